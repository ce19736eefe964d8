package io.qjournal.qcow2.model;

import java.util.Arrays;
import java.util.BitSet;

/**
 * What the guest must see: a plain byte array. Discarded clusters over a backing file may read
 * either as zeros or as the backing file (the engine's contract allows both), so those bytes
 * are tracked as "either" until they are written again.
 */
final class GuestModel {
    final byte[] disk;
    final byte[] backing;
    final BitSet either = new BitSet();
    final int cs;

    GuestModel(long size, byte[] backing, int cs) {
        this.disk = new byte[(int) size];
        this.backing = backing;
        this.cs = cs;
        if (backing != null) {
            System.arraycopy(backing, 0, disk, 0, Math.min(backing.length, disk.length));
        }
    }

    void write(long off, byte[] b) {
        System.arraycopy(b, 0, disk, (int) off, b.length);
        either.clear((int) off, (int) off + b.length);
    }

    void zero(long off, long len) {
        Arrays.fill(disk, (int) off, (int) (off + len), (byte) 0);
        either.clear((int) off, (int) (off + len));
    }

    /** Only whole clusters inside the range are freed. */
    void discard(long off, long len) {
        long start = (off + cs - 1) / cs * cs;
        long end = (off + len) / cs * cs;
        if (start >= end) {
            return;
        }
        Arrays.fill(disk, (int) start, (int) end, (byte) 0);
        if (backing != null) {
            either.set((int) start, (int) end);
        }
    }

    /** Returns the first offset in [off, off+len) where {@code got} disagrees, or -1. */
    long mismatch(long off, byte[] got, int len) {
        for (int i = 0; i < len; i++) {
            int p = (int) off + i;
            byte want = disk[p];
            if (got[i] == want) {
                continue;
            }
            if (either.get(p)) {
                byte alt = p < backing.length ? backing[p] : 0;
                if (got[i] == alt) {
                    continue;
                }
            }
            return p;
        }
        return -1;
    }
}
