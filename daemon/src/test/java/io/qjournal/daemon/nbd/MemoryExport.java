package io.qjournal.daemon.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An NbdExport over memory for protocol tests: 4 KiB blocks, each a hole until written; trim
 * makes holes, write-zeroes without NO_HOLE makes zero holes. Thread-safe (one lock).
 */
final class MemoryExport implements NbdExport {
    static final int BLOCK = 4096;

    private final String name;
    private final byte[] data;
    private final boolean readOnly;
    private final BitSet allocated = new BitSet();
    final AtomicInteger clients = new AtomicInteger();
    final AtomicLong flushes = new AtomicLong();
    final AtomicLong fuaWrites = new AtomicLong();
    /** When set, the next export call fails with this errno (then clears); -1 an IOException, -2 OutOfMemoryError, -3 a RuntimeException. */
    volatile int failNext;
    /** When set, reads and writes wait for it before touching data (keeps requests in flight). */
    volatile java.util.concurrent.CountDownLatch gate;
    final AtomicInteger waiting = new AtomicInteger();

    MemoryExport(String name, int size, boolean readOnly) {
        this.name = name;
        this.data = new byte[size];
        this.readOnly = readOnly;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String description() {
        return "memory export " + name;
    }

    @Override
    public long size() {
        return data.length;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public int minimumBlockSize() {
        return 1;
    }

    @Override
    public int preferredBlockSize() {
        return BLOCK;
    }

    @Override
    public int maximumPayload() {
        return 32 << 20;
    }

    private void maybeFail() throws IOException {
        int e = failNext;
        if (e != 0) {
            failNext = 0;
            if (e == -1) {
                throw new IOException("injected I/O failure on " + name);
            }
            if (e == -2) {
                throw new OutOfMemoryError("injected");
            }
            if (e == -3) {
                throw new IllegalStateException("injected bug");
            }
            throw new NbdError(e, "injected failure on " + name);
        }
    }

    private void pass() throws IOException {
        java.util.concurrent.CountDownLatch g = gate;
        if (g != null) {
            waiting.incrementAndGet();
            try {
                if (!g.await(30, java.util.concurrent.TimeUnit.SECONDS)) {
                    throw new IOException("gate never opened");
                }
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted");
            } finally {
                waiting.decrementAndGet();
            }
        }
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        pass();
        synchronized (this) {
            maybeFail();
            dst.put(data, (int) offset, dst.remaining());
        }
    }

    @Override
    public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        pass();
        synchronized (this) {
            writeLocked(offset, src, fua);
        }
    }

    private void writeLocked(long offset, ByteBuffer src, boolean fua) throws IOException {
        maybeFail();
        int len = src.remaining();
        src.get(data, (int) offset, len);
        mark(offset, len, true);
        if (fua) {
            fuaWrites.incrementAndGet();
        }
    }

    @Override
    public void flush() throws IOException {
        maybeFail();
        flushes.incrementAndGet();
    }

    @Override
    public synchronized void trim(long offset, long length, boolean fua) throws IOException {
        maybeFail();
        zeroWholeBlocks(offset, length);
    }

    @Override
    public synchronized void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        maybeFail();
        java.util.Arrays.fill(data, (int) offset, (int) (offset + length), (byte) 0);
        if (noHole) {
            mark(offset, length, true);
        } else {
            zeroWholeBlocks(offset, length);
        }
    }

    private void zeroWholeBlocks(long offset, long length) {
        long first = (offset + BLOCK - 1) / BLOCK;
        long end = (offset + length) / BLOCK;
        for (long b = first; b < end; b++) {
            java.util.Arrays.fill(data, (int) (b * BLOCK), (int) ((b + 1) * BLOCK), (byte) 0);
            allocated.clear((int) b);
        }
    }

    private void mark(long offset, long length, boolean value) {
        if (length > 0) {
            allocated.set((int) (offset / BLOCK), (int) ((offset + length - 1) / BLOCK) + 1, value);
        }
    }

    @Override
    public synchronized List<Extent> blockStatus(long offset, long length) throws IOException {
        maybeFail();
        List<Extent> out = new ArrayList<>();
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            int b = (int) (pos / BLOCK);
            boolean alloc = allocated.get(b);
            int next = alloc ? allocated.nextClearBit(b) : allocated.nextSetBit(b);
            long runEnd = next < 0 ? data.length : Math.min((long) next * BLOCK, data.length);
            runEnd = Math.min(runEnd, end);
            out.add(new Extent(runEnd - pos, !alloc, !alloc));
            pos = runEnd;
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

    synchronized byte[] snapshot() {
        return data.clone();
    }
}
