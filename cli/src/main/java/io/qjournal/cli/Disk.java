package io.qjournal.cli;

import io.qjournal.qcow2.BlockDevice;
import io.qjournal.qcow2.BlockStatus;
import io.qjournal.qcow2.Qcow2Image;
import java.io.Closeable;
import java.io.IOException;

/** The operations io and bench need, over a qcow2 image or a raw file. */
public abstract class Disk implements Closeable {
    public abstract long size();

    public abstract String name();

    public abstract void read(long offset, byte[] buf, int off, int len) throws IOException;

    public abstract void write(long offset, byte[] buf, int off, int len) throws IOException;

    public abstract void writeZeroes(long offset, long len) throws IOException;

    public abstract void discard(long offset, long len) throws IOException;

    public abstract void flush() throws IOException;

    /** Reads into a buffer (a qcow2 image reads direct buffers without a heap copy). */
    public void read(long offset, java.nio.ByteBuffer dst) throws IOException {
        byte[] b = new byte[dst.remaining()];
        read(offset, b, 0, b.length);
        dst.put(b);
    }

    /** Writes a buffer (a qcow2 image writes direct buffers without a heap copy). */
    public void write(long offset, java.nio.ByteBuffer src) throws IOException {
        byte[] b = new byte[src.remaining()];
        src.get(b);
        write(offset, b, 0, b.length);
    }

    /** The qcow2 image, or null for raw. */
    public abstract Qcow2Image qcow2();

    public abstract BlockDevice device();

    static Disk of(Qcow2Image img) {
        return new Disk() {
            @Override public long size() { return img.size(); }
            @Override public String name() { return img.name(); }
            @Override public void read(long o, byte[] b, int off, int len) throws IOException { img.read(o, b, off, len); }
            @Override public void write(long o, byte[] b, int off, int len) throws IOException { img.write(o, b, off, len); }
            @Override public void read(long o, java.nio.ByteBuffer b) throws IOException { img.read(o, b); }
            @Override public void write(long o, java.nio.ByteBuffer b) throws IOException { img.write(o, b); }
            @Override public void writeZeroes(long o, long len) throws IOException { img.writeZeroes(o, len); }
            @Override public void discard(long o, long len) throws IOException { img.discard(o, len); }
            @Override public void flush() throws IOException { img.flush(); }
            @Override public Qcow2Image qcow2() { return img; }
            @Override public BlockDevice device() { return img; }
            @Override public void close() throws IOException { img.close(); }
        };
    }

    static Disk of(RawDevice raw) {
        return new Disk() {
            @Override public long size() { return raw.size(); }
            @Override public String name() { return raw.name(); }
            @Override public void read(long o, byte[] b, int off, int len) throws IOException { raw.read(o, b, off, len); }
            @Override public void write(long o, byte[] b, int off, int len) throws IOException { raw.write(o, b, off, len); }

            @Override
            public void writeZeroes(long o, long len) throws IOException {
                byte[] z = new byte[(int) Math.min(len, 1 << 20)];
                for (long done = 0; done < len; ) {
                    int n = (int) Math.min(z.length, len - done);
                    raw.write(o + done, z, 0, n);
                    done += n;
                }
            }

            @Override
            public void discard(long o, long len) {
                // A raw file without hole punching: discard is advisory, as QEMU allows.
            }

            @Override public void flush() throws IOException { raw.flush(); }
            @Override public Qcow2Image qcow2() { return null; }
            @Override public BlockDevice device() { return raw; }
            @Override public void close() throws IOException { raw.close(); }
        };
    }

    /** This layer's status, for raw: all data at the same offset. */
    public BlockStatus status(long offset, long max) throws IOException {
        Qcow2Image q = qcow2();
        if (q != null) {
            return q.blockStatus(offset, max);
        }
        return new BlockStatus(offset, Math.min(max, size() - offset), true, false, true, offset, false);
    }
}
