package io.qjournal.qcow2.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reads through to a base store; writes stay in memory. Lets a read-only open replay a dirty
 * journal without touching the file. Closing closes the base.
 */
public final class OverlayStorage implements Storage {
    private static final int PAGE = 4096;
    private final Storage base;
    private final TreeMap<Long, byte[]> pages = new TreeMap<>();
    private long size;

    public OverlayStorage(Storage base) throws IOException {
        this.base = base;
        this.size = base.size();
    }

    @Override
    public synchronized void read(long offset, ByteBuffer dst) throws IOException {
        while (dst.hasRemaining()) {
            long page = offset / PAGE;
            int in = (int) (offset % PAGE);
            int n = Math.min(dst.remaining(), PAGE - in);
            byte[] p = pages.get(page);
            if (p != null) {
                dst.put(p, in, n);
            } else if (offset >= size) {
                dst.put(new byte[n]);
            } else {
                ByteBuffer slice = dst.slice();
                slice.limit(n);
                base.read(offset, slice);
                dst.position(dst.position() + n);
            }
            offset += n;
        }
    }

    @Override
    public synchronized void write(long offset, ByteBuffer src) throws IOException {
        while (src.hasRemaining()) {
            long page = offset / PAGE;
            int in = (int) (offset % PAGE);
            int n = Math.min(src.remaining(), PAGE - in);
            byte[] p = pages.get(page);
            if (p == null) {
                p = new byte[PAGE];
                if (page * PAGE < size) {
                    base.read(page * PAGE, ByteBuffer.wrap(p));
                }
                pages.put(page, p);
            }
            src.get(p, in, n);
            offset += n;
            size = Math.max(size, offset);
        }
    }

    @Override
    public void flush() {
    }

    @Override
    public synchronized long size() {
        return size;
    }

    @Override
    public synchronized void truncate(long newSize) {
        for (Map.Entry<Long, byte[]> e : pages.tailMap(newSize / PAGE, true).entrySet()) {
            long start = e.getKey() * PAGE;
            if (start >= newSize) {
                java.util.Arrays.fill(e.getValue(), (byte) 0);
            } else {
                java.util.Arrays.fill(e.getValue(), (int) (newSize - start), PAGE, (byte) 0);
            }
        }
        size = newSize;
    }

    @Override
    public String name() {
        return base.name();
    }

    @Override
    public boolean isReadOnly() {
        return false;
    }

    @Override
    public void close() throws IOException {
        base.close();
    }
}
