package io.qjournal.qcow2.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/** A growable in-memory store: for tests and for staging small images. */
public class MemoryStorage implements Storage {
    private final String name;
    private byte[] data;
    private long size;
    private long flushes;

    public MemoryStorage(String name) {
        this(name, new byte[0]);
    }

    public MemoryStorage(String name, byte[] initial) {
        this.name = name;
        this.data = initial.clone();
        this.size = initial.length;
    }

    @Override
    public synchronized void read(long offset, ByteBuffer dst) throws IOException {
        checkOffset(offset, dst.remaining());
        int n = dst.remaining();
        int avail = (int) Math.max(0, Math.min(n, size - offset));
        if (avail > 0) {
            dst.put(data, (int) offset, avail);
        }
        for (int i = avail; i < n; i++) {
            dst.put((byte) 0);
        }
    }

    @Override
    public synchronized void write(long offset, ByteBuffer src) throws IOException {
        int n = src.remaining();
        checkOffset(offset, n);
        long end = offset + n;
        ensureCapacity(end);
        src.get(data, (int) offset, n);
        size = Math.max(size, end);
    }

    @Override
    public synchronized void flush() {
        flushes++;
    }

    @Override
    public synchronized long flushCount() {
        return flushes;
    }

    @Override
    public synchronized long size() {
        return size;
    }

    @Override
    public synchronized void truncate(long newSize) throws IOException {
        checkOffset(newSize, 0);
        ensureCapacity(newSize);
        if (newSize < size) {
            Arrays.fill(data, (int) newSize, (int) size, (byte) 0);
        }
        size = newSize;
    }

    /** A copy of the current bytes. */
    public synchronized byte[] toByteArray() {
        return Arrays.copyOf(data, (int) size);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public boolean isReadOnly() {
        return false;
    }

    @Override
    public void close() {
    }

    private void ensureCapacity(long end) throws IOException {
        if (end > data.length) {
            long cap = Math.max(end, Math.min(Integer.MAX_VALUE - 8, (long) data.length * 2));
            data = Arrays.copyOf(data, (int) cap);
        }
    }

    private void checkOffset(long offset, int len) throws IOException {
        if (offset < 0 || offset + len > Integer.MAX_VALUE - 8) {
            throw new IOException(name + ": offset " + offset + " is beyond what a memory store holds");
        }
    }
}
