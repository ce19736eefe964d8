package io.qjournal.qcow2.storage;

import java.io.IOException;
import java.nio.ByteBuffer;

/** A storage that passes every call to another; subclasses change the calls they care about. */
public abstract class ForwardingStorage implements Storage {
    protected final Storage base;

    protected ForwardingStorage(Storage base) {
        this.base = base;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        base.read(offset, dst);
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
        base.write(offset, src);
    }

    @Override
    public void read(long offset, byte[] dst, int off, int len) throws IOException {
        base.read(offset, dst, off, len);
    }

    @Override
    public void write(long offset, byte[] src, int off, int len) throws IOException {
        base.write(offset, src, off, len);
    }

    @Override
    public void flush() throws IOException {
        base.flush();
    }

    @Override
    public long size() throws IOException {
        return base.size();
    }

    @Override
    public void truncate(long size) throws IOException {
        base.truncate(size);
    }

    @Override
    public String name() {
        return base.name();
    }

    @Override
    public boolean isReadOnly() {
        return base.isReadOnly();
    }

    @Override
    public long flushCount() {
        return base.flushCount();
    }

    @Override
    public void close() throws IOException {
        base.close();
    }
}
