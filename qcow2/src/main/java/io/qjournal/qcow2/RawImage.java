package io.qjournal.qcow2;

import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.file.Path;

/** A raw file as a read-only block device (a backing file, or a convert source). */
public final class RawImage implements BlockDevice {
    private final Storage storage;
    private final long size;

    public RawImage(Storage storage) throws IOException {
        this.storage = storage;
        this.size = storage.size();
    }

    public static RawImage open(Path path) throws IOException {
        return new RawImage(FileStorage.open(path, false));
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void read(long offset, byte[] buf, int off, int len) throws IOException {
        storage.read(offset, buf, off, len);
    }

    @Override
    public String name() {
        return storage.name();
    }

    @Override
    public void close() throws IOException {
        storage.close();
    }
}
