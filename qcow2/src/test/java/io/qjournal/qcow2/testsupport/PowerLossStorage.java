package io.qjournal.qcow2.testsupport;

import io.qjournal.qcow2.storage.MemoryStorage;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A storage that records every write, truncate and flush since it was created over a base image,
 * and can materialise what a power loss at any point would have left on the media (in the
 * spirit of H2's FilePathReorderWrites).
 *
 * <p>The model follows the {@link Storage} contract: at a crash after operation k, everything
 * before the last flush preceding k is durable; each write issued after that flush (and before
 * k) may independently have landed or not, and one of them may be torn at 512-byte sector
 * boundaries (only some of its sectors landed). Nothing else can happen: a write never lands
 * partly inside a sector, and no byte that was never written changes.
 *
 * <p>Crash states are materialised from a cached durable snapshot that is advanced forward, so
 * asking for crash points in ascending order costs one copy of the image per state plus the
 * in-flight writes. Reads see every write (the live view the engine expects).
 */
public final class PowerLossStorage implements Storage {
    public static final int SECTOR = 512;

    private sealed interface Op permits Write, Flush, Truncate {
    }

    private record Write(long offset, byte[] data) implements Op {
    }

    private record Flush() implements Op {
    }

    private record Truncate(long size) implements Op {
    }

    private final String name;
    private final byte[] base;
    private final MemoryStorage live;
    private final List<Op> ops = new ArrayList<>();
    private final List<Integer> flushBoundaries = new ArrayList<>();

    /** Durable snapshot cache: the base with ops [0, cursorOps) applied. */
    private int cursorOps = -1;
    private byte[] cursorData;
    private long cursorSize;

    public PowerLossStorage(String name, byte[] base) {
        this.name = name;
        this.base = base.clone();
        this.live = new MemoryStorage(name, base);
    }

    @Override
    public synchronized void read(long offset, ByteBuffer dst) throws IOException {
        live.read(offset, dst);
    }

    @Override
    public synchronized void write(long offset, ByteBuffer src) throws IOException {
        byte[] copy = new byte[src.remaining()];
        src.duplicate().get(copy);
        live.write(offset, src);
        ops.add(new Write(offset, copy));
    }

    @Override
    public synchronized void flush() {
        ops.add(new Flush());
        flushBoundaries.add(ops.size());
    }

    @Override
    public synchronized long flushCount() {
        return flushBoundaries.size();
    }

    @Override
    public synchronized long size() {
        return live.size();
    }

    @Override
    public synchronized void truncate(long size) throws IOException {
        live.truncate(size);
        ops.add(new Truncate(size));
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public boolean isReadOnly() {
        return false;
    }

    /** Closing keeps the recording: the engine closes its storage, the test goes on using it. */
    @Override
    public void close() {
    }

    /** Number of recorded operations so far (crash points are 0..opCount()). */
    public synchronized int opCount() {
        return ops.size();
    }

    /** Crash points right after each flush returned (k such that op k-1 is a flush), ascending. */
    public synchronized List<Integer> flushBoundaries() {
        return List.copyOf(flushBoundaries);
    }

    /** The ops covered by the last flush before crash point k: index just past that flush, or 0. */
    public synchronized int durablePrefix(int crashPoint) {
        checkPoint(crashPoint);
        int p = 0;
        for (int b : flushBoundaries) {
            if (b > crashPoint) {
                break;
            }
            p = b;
        }
        return p;
    }

    /** The current bytes, as if every write had landed. */
    public synchronized byte[] liveBytes() {
        return live.toByteArray();
    }

    /** What the media holds at crash point k when every write issued before k landed. */
    public synchronized byte[] allLanded(int crashPoint) {
        checkPoint(crashPoint);
        advanceTo(durablePrefix(crashPoint));
        Image img = new Image(Arrays.copyOf(cursorData, (int) cursorSize), cursorSize);
        for (int i = durablePrefix(crashPoint); i < crashPoint; i++) {
            img.apply(ops.get(i));
        }
        return img.bytes();
    }

    /**
     * Materialises one crash state at crash point k: the durable state at the last flush before
     * k, plus a random subset of the writes in flight (each kept with probability 1/2, in issue
     * order), one of the kept ones possibly torn at a 512-byte boundary (a prefix of its sectors
     * or a random subset of them).
     */
    public synchronized CrashState crashState(int crashPoint, Random rnd) {
        checkPoint(crashPoint);
        int prefix = durablePrefix(crashPoint);
        advanceTo(prefix);
        Image img = new Image(Arrays.copyOf(cursorData, (int) cursorSize), cursorSize);
        List<Integer> kept = new ArrayList<>();
        StringBuilder desc = new StringBuilder();
        int inFlight = 0;
        for (int i = prefix; i < crashPoint; i++) {
            if (ops.get(i) instanceof Flush) {
                continue;
            }
            inFlight++;
            if (rnd.nextBoolean()) {
                kept.add(i);
            }
        }
        int torn = -1;
        boolean tornPrefix = false;
        List<Integer> tearable = new ArrayList<>();
        for (int i : kept) {
            if (ops.get(i) instanceof Write w && sectorsOf(w) > 1) {
                tearable.add(i);
            }
        }
        if (!tearable.isEmpty() && rnd.nextInt(3) == 0) {
            torn = tearable.get(rnd.nextInt(tearable.size()));
            tornPrefix = rnd.nextBoolean();
        }
        desc.append(inFlight).append(" in flight, kept ").append(kept);
        for (int i : kept) {
            Op op = ops.get(i);
            if (i == torn) {
                Write w = (Write) op;
                String how = tearWrite(img, w, tornPrefix, rnd);
                desc.append(", op ").append(i).append(" torn (").append(how).append(')');
            } else {
                img.apply(op);
            }
        }
        return new CrashState(crashPoint, prefix, img.bytes(), desc.toString());
    }

    /** A short description of op i, for failure messages. */
    public synchronized String describe(int i) {
        Op op = ops.get(i);
        if (op instanceof Write w) {
            return "write " + w.data().length + " bytes at " + w.offset();
        }
        if (op instanceof Truncate t) {
            return "truncate to " + t.size();
        }
        return "flush";
    }

    private static int sectorsOf(Write w) {
        long first = w.offset() / SECTOR;
        long last = (w.offset() + w.data().length - 1) / SECTOR;
        return (int) (last - first + 1);
    }

    /** Applies only some sectors of w: a prefix of them, or each one independently. */
    private static String tearWrite(Image img, Write w, boolean prefix, Random rnd) {
        int n = sectorsOf(w);
        boolean[] land = new boolean[n];
        if (prefix) {
            int keep = rnd.nextInt(n); // 0..n-1 sectors: a strict prefix
            for (int s = 0; s < keep; s++) {
                land[s] = true;
            }
        } else {
            for (int s = 0; s < n; s++) {
                land[s] = rnd.nextBoolean();
            }
        }
        StringBuilder b = new StringBuilder();
        long sector0 = w.offset() / SECTOR;
        int landed = 0;
        for (int s = 0; s < n; s++) {
            b.append(land[s] ? '1' : '0');
            landed += land[s] ? 1 : 0;
            if (!land[s]) {
                continue;
            }
            long start = Math.max(w.offset(), (sector0 + s) * SECTOR);
            long end = Math.min(w.offset() + w.data().length, (sector0 + s + 1) * SECTOR);
            img.write(start, w.data(), (int) (start - w.offset()), (int) (end - start));
        }
        String how = (prefix ? "prefix of " : "random ") + landed + " of " + n + " sectors landed";
        return n <= 64 ? how + " " + b : how;
    }

    private void advanceTo(int prefix) {
        if (cursorOps < 0 || prefix < cursorOps) {
            cursorData = base.clone();
            cursorSize = base.length;
            cursorOps = 0;
        }
        Image img = new Image(cursorData, cursorSize);
        for (int i = cursorOps; i < prefix; i++) {
            img.apply(ops.get(i));
        }
        cursorData = img.data;
        cursorSize = img.size;
        cursorOps = prefix;
    }

    private void checkPoint(int crashPoint) {
        if (crashPoint < 0 || crashPoint > ops.size()) {
            throw new IllegalArgumentException("crash point " + crashPoint + " outside 0.." + ops.size());
        }
    }

    /** A growable byte image that ops are applied to. */
    private static final class Image {
        byte[] data;
        long size;

        Image(byte[] data, long size) {
            this.data = data;
            this.size = size;
        }

        void apply(Op op) {
            if (op instanceof Write w) {
                write(w.offset(), w.data(), 0, w.data().length);
            } else if (op instanceof Truncate t) {
                ensure(t.size());
                if (t.size() < size) {
                    Arrays.fill(data, (int) t.size(), (int) size, (byte) 0);
                }
                size = t.size();
            }
        }

        void write(long offset, byte[] src, int off, int len) {
            long end = offset + len;
            ensure(end);
            System.arraycopy(src, off, data, (int) offset, len);
            size = Math.max(size, end);
        }

        private void ensure(long end) {
            if (end > data.length) {
                data = Arrays.copyOf(data, (int) Math.max(end, Math.min(Integer.MAX_VALUE - 8, data.length * 2L)));
            }
        }

        byte[] bytes() {
            return data.length == size ? data : Arrays.copyOf(data, (int) size);
        }
    }
}
