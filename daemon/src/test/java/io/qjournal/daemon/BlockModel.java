package io.qjournal.daemon;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * What each 4 KiB block of an export may hold. Block b written in version v carries (v, b)
 * and a pattern derived from both, so a torn or misplaced block is recognised. For each block
 * the model keeps the versions it may read back: the last durable one (acknowledged before a
 * completed FLUSH, or with FUA) and every version sent after it (acknowledged or in flight).
 * One client thread owns each block, so updates of one block never race.
 */
final class BlockModel {
    static final int BLOCK = 4096;
    private final List<Long>[] candidates;
    private final long[] acked;

    @SuppressWarnings("unchecked")
    BlockModel(int blocks) {
        candidates = new List[blocks];
        acked = new long[blocks];
        for (int i = 0; i < blocks; i++) {
            candidates[i] = new ArrayList<>(List.of(0L));
        }
    }

    int blocks() {
        return candidates.length;
    }

    static byte[] content(int block, long version) {
        ByteBuffer b = ByteBuffer.allocate(BLOCK);
        if (version == 0) {
            return b.array();
        }
        b.putLong(version).putLong(block);
        long x = version * 0x9E3779B97F4A7C15L ^ block;
        while (b.hasRemaining()) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            b.putLong(x);
        }
        return b.array();
    }

    /** The version a block read back holds; throws if it is no block this model ever wrote. */
    static long versionOf(int block, byte[] data, int off) {
        ByteBuffer b = ByteBuffer.wrap(data, off, BLOCK);
        long v = b.getLong();
        byte[] expect = content(block, v);
        if (!java.util.Arrays.equals(data, off, off + BLOCK, expect, 0, BLOCK)) {
            throw new AssertionError("block " + block + " is torn or misplaced (header version " + v + ")");
        }
        return v;
    }

    /** Before sending a write: the new version may be on disk from now on. */
    synchronized void sending(int block, long version) {
        candidates[block].add(version);
    }

    /** A write with FUA was acknowledged: durable. */
    synchronized void durable(int block, long version) {
        List<Long> c = candidates[block];
        int at = c.indexOf(version);
        c.subList(0, at).clear();
    }

    /** A write was acknowledged (not yet durable). */
    synchronized void acked(int block, long version) {
        if (candidates[block].indexOf(version) > candidates[block].indexOf(acked[block])) {
            acked[block] = version;
        }
    }

    /**
     * After a clean stop: the block holds its last acknowledged version or one sent after it
     * (in flight when the connection ended); nothing acknowledged may be lost.
     */
    synchronized void verifyClean(int block, long version, String context) {
        List<Long> c = candidates[block];
        int at = c.indexOf(version);
        int ack = c.indexOf(acked[block]);
        if (at < 0 || at < ack) {
            throw new AssertionError(context + ": block " + block + " reads version " + version
                    + " after a clean stop, but version " + acked[block] + " was acknowledged (sent: " + c + ")");
        }
    }

    /** A FLUSH completed: every acknowledged write of these blocks is durable (latest wins). */
    synchronized void flushed(int from, int to) {
        for (int b = from; b < to; b++) {
            List<Long> c = candidates[b];
            Long last = c.get(c.size() - 1);
            c.clear();
            c.add(last);
        }
    }

    /** Checks a block read back after a crash; from now on it holds exactly that version. */
    synchronized void verify(int block, long version, String context) {
        List<Long> c = candidates[block];
        if (!c.contains(version)) {
            throw new AssertionError(context + ": block " + block + " reads version " + version
                    + ", but only " + c + " may be there (the first one was durable)");
        }
        c.clear();
        c.add(version);
    }

    /** After a clean stop nothing acknowledged may be lost: the latest acknowledged version. */
    synchronized List<Long> candidates(int block) {
        return new ArrayList<>(candidates[block]);
    }
}
