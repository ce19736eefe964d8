package io.qjournal.daemon.nbd;

import io.qjournal.qcow2.BlockStatus;
import io.qjournal.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** Test adapter of a real Qcow2Image to NbdExport (the daemon has its own production adapter). */
final class Qcow2TestExport implements NbdExport {
    private final String name;
    private final Qcow2Image image;
    final AtomicInteger clients = new AtomicInteger();

    Qcow2TestExport(String name, Qcow2Image image) {
        this.name = name;
        this.image = image;
    }

    Qcow2Image image() {
        return image;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String description() {
        return "qcow2 image " + name;
    }

    @Override
    public long size() {
        return image.size();
    }

    @Override
    public boolean readOnly() {
        return !image.isWritable();
    }

    @Override
    public int minimumBlockSize() {
        return 1;
    }

    @Override
    public int preferredBlockSize() {
        return 4096;
    }

    @Override
    public int maximumPayload() {
        return 32 << 20;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        image.read(offset, dst);
    }

    @Override
    public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        image.write(offset, src);
        if (fua) {
            image.flush();
        }
    }

    @Override
    public void flush() throws IOException {
        image.flush();
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        image.discard(offset, length);
        if (fua) {
            image.flush();
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        image.writeZeroes(offset, length);
        if (fua) {
            image.flush();
        }
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        // As QEMU's NBD server: a hole where no data backs the range, zero where it reads as zeros.
        List<Extent> out = new ArrayList<>();
        long pos = offset;
        long end = offset + length;
        while (pos < end && out.size() < 1024) {
            BlockStatus s = image.blockStatus(pos, end - pos);
            boolean hole = !s.data();
            boolean zero = s.zero();
            int last = out.size() - 1;
            if (last >= 0 && out.get(last).hole() == hole && out.get(last).zero() == zero) {
                out.set(last, new Extent(out.get(last).length() + s.length(), hole, zero));
            } else {
                out.add(new Extent(s.length(), hole, zero));
            }
            pos += s.length();
        }
        return out;
    }

    @Override
    public void clientAttached() {
        clients.incrementAndGet();
    }

    @Override
    public void clientDetached() {
        clients.decrementAndGet();
    }
}
