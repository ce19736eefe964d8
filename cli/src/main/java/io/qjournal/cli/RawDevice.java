package io.qjournal.cli;

import io.qjournal.qcow2.BlockDevice;
import io.qjournal.qcow2.storage.FileStorage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

/** A raw image file as a block device (convert source, bench/io on raw files). */
public final class RawDevice implements BlockDevice {
    private final FileStorage storage;
    private final long size;

    private RawDevice(FileStorage storage) throws IOException {
        this.storage = storage;
        this.size = storage.size();
    }

    public static RawDevice open(Path path, boolean writable, boolean lock) throws IOException {
        FileStorage s = FileStorage.open(path, writable);
        try {
            if (lock) {
                s.lock(writable);
            }
            return new RawDevice(s);
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void read(long offset, byte[] buf, int off, int len) throws IOException {
        if (offset >= size) {
            Arrays.fill(buf, off, off + len, (byte) 0);
            return;
        }
        int n = (int) Math.min(len, size - offset);
        storage.read(offset, buf, off, n);
        if (n < len) {
            Arrays.fill(buf, off + n, off + len, (byte) 0);
        }
    }

    public void write(long offset, byte[] buf, int off, int len) throws IOException {
        if (offset < 0 || offset + len > size) {
            throw new IOException(storage.name() + ": write beyond the end of the image");
        }
        storage.write(offset, buf, off, len);
    }

    public void flush() throws IOException {
        storage.flush();
    }

    @Override
    public String name() {
        return storage.name();
    }

    public FileStorage storage() {
        return storage;
    }

    @Override
    public void close() throws IOException {
        storage.close();
    }
}
