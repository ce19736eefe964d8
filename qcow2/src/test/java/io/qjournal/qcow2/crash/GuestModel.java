package io.qjournal.qcow2.crash;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What the guest may read back after a crash: per byte of a window of the virtual disk, its
 * value at the last completed flush, or any value a write issued after that flush put there.
 *
 * <p>Each guest operation is stamped with the storage operation count before and after it
 * (the crash points it spans). At crash point k the last completed flush is the last flush
 * whose end stamp is at most k; writes after it count as in flight when their start stamp is
 * below k (a write that issued no storage operation before the crash cannot have landed).
 */
final class GuestModel {
    enum Kind { WRITE, ZERO, FLUSH, RESIZE }

    /** One guest operation; {@code data} is null for zeroing ops. */
    record Op(Kind kind, long offset, long length, byte[] data, int start, int end) {
        boolean covers(long pos) {
            return (kind == Kind.WRITE || kind == Kind.ZERO) && pos >= offset && pos < offset + length;
        }

        byte valueAt(long pos) {
            return kind == Kind.WRITE ? data[(int) (pos - offset)] : 0;
        }

        @Override
        public String toString() {
            return switch (kind) {
                case WRITE -> "write " + length + "@" + offset;
                case ZERO -> "zero/discard " + length + "@" + offset;
                case FLUSH -> "flush";
                case RESIZE -> "resize to " + offset;
            } + " [storage ops " + start + ".." + end + ")";
        }
    }

    private final int window;
    private final byte[] initial;
    private final long initialSize;
    private final List<Op> ops = new ArrayList<>();
    /** Writes whose call failed: never promised durable, yet they may have landed. */
    private final List<Op> failed = new ArrayList<>();

    /** Durable model cache: ops [0, cursor) applied to the initial window. */
    private int cursor = -1;
    private byte[] durable;
    private long durableSize;

    GuestModel(byte[] initialWindow, long initialSize) {
        this.window = initialWindow.length;
        this.initial = initialWindow.clone();
        this.initialSize = initialSize;
    }

    int window() {
        return window;
    }

    List<Op> ops() {
        return ops;
    }

    void add(Op op) {
        if ((op.kind == Kind.WRITE || op.kind == Kind.ZERO) && (op.offset < 0 || op.offset + op.length > window)) {
            throw new IllegalArgumentException("workload op outside the model window: " + op);
        }
        ops.add(op);
    }

    /** Records a write or zeroing whose call threw: it may have landed in part, whatever flushes follow. */
    void addFailed(Op op) {
        if (op.kind != Kind.WRITE && op.kind != Kind.ZERO) {
            throw new IllegalArgumentException("only writes can fail into the model: " + op);
        }
        failed.add(op);
    }

    /** Which guest operation was running at crash point k (for failure messages). */
    String opAt(int crashPoint) {
        for (int i = 0; i < ops.size(); i++) {
            Op op = ops.get(i);
            if (crashPoint > op.start && crashPoint < op.end) {
                return "inside guest op #" + i + " " + op;
            }
            if (crashPoint <= op.start) {
                return i == 0 ? "before the first guest op" : "after guest op #" + (i - 1) + " " + ops.get(i - 1);
            }
        }
        return "after the last guest op";
    }

    /** The state visible at crash point k: durable model plus the ops in flight. */
    View at(int crashPoint) {
        int lastFlush = -1;
        for (int i = 0; i < ops.size(); i++) {
            Op op = ops.get(i);
            if (op.kind == Kind.FLUSH && op.end <= crashPoint) {
                lastFlush = i;
            }
        }
        int upTo = lastFlush + 1;
        if (cursor < 0 || upTo < cursor) {
            durable = initial.clone();
            durableSize = initialSize;
            cursor = 0;
        }
        for (; cursor < upTo; cursor++) {
            Op op = ops.get(cursor);
            switch (op.kind) {
                case WRITE -> System.arraycopy(op.data, 0, durable, (int) op.offset, (int) op.length);
                case ZERO -> Arrays.fill(durable, (int) op.offset, (int) (op.offset + op.length), (byte) 0);
                case RESIZE -> durableSize = op.offset;
                default -> { }
            }
        }
        List<Op> pending = new ArrayList<>();
        for (int i = upTo; i < ops.size(); i++) {
            Op op = ops.get(i);
            if (op.kind != Kind.FLUSH && op.start < crashPoint) {
                pending.add(op);
            }
        }
        for (Op op : failed) {
            if (op.start < crashPoint) {
                pending.add(op);
            }
        }
        return new View(lastFlush, durable, durableSize, pending, ops);
    }

    /** The model at one crash point. The durable array is shared: do not modify it. */
    static final class View {
        final int lastFlush;
        final byte[] durable;
        final long durableSize;
        final List<Op> pending;
        private final List<Op> all;

        View(int lastFlush, byte[] durable, long durableSize, List<Op> pending, List<Op> all) {
            this.all = all;
            this.lastFlush = lastFlush;
            this.durable = durable;
            this.durableSize = durableSize;
            this.pending = pending;
        }

        /** Null when {@code size} is a virtual size the guest may see now, else why not. */
        String checkSize(long size) {
            if (size == durableSize) {
                return null;
            }
            for (Op op : pending) {
                if (op.kind == Kind.RESIZE && op.offset == size) {
                    return null;
                }
            }
            return "virtual size " + size + " is neither the size at the last completed flush (" + durableSize
                    + ") nor one a pending resize set";
        }

        /**
         * Null when every byte of {@code actual} (guest bytes from offset 0) is acceptable, else
         * a description of the first bad byte.
         */
        String check(byte[] actual, int len) {
            int pos = 0;
            while (pos < len) {
                int m = Arrays.mismatch(actual, pos, len, durable, pos, len);
                if (m < 0) {
                    return null;
                }
                int at = pos + m;
                if (!pendingExplains(at, actual[at])) {
                    return describe(at, actual[at]);
                }
                pos = at + 1;
            }
            return null;
        }

        private boolean pendingExplains(long at, byte v) {
            for (Op op : pending) {
                if (op.covers(at) && op.valueAt(at) == v) {
                    return true;
                }
            }
            return false;
        }

        private String describe(int at, byte v) {
            StringBuilder b = new StringBuilder();
            b.append(String.format("guest byte at offset %d (0x%x) reads 0x%02x; at the last completed flush"
                    + " (guest op #%d) it was 0x%02x", at, at, v & 0xff, lastFlush, durable[at] & 0xff));
            for (int i = lastFlush - 1; i >= 0; i--) {
                if (all.get(i).covers(at)) {
                    b.append(" (last written by guest op #").append(i).append(' ').append(all.get(i)).append(')');
                    break;
                }
            }
            List<String> covering = new ArrayList<>();
            for (Op op : pending) {
                if (op.covers(at)) {
                    covering.add(op + " -> 0x" + Integer.toHexString(op.valueAt(at) & 0xff));
                }
            }
            b.append(covering.isEmpty() ? "; no write after that flush covers it" : "; in-flight writes: " + covering);
            return b.toString();
        }
    }
}
