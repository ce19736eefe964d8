package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.table.L2Entry;

/** What a (sub)cluster reads as, from its L2 entry and bitmap. */
final class Subclusters {
    static final int UNALLOC = 0;
    static final int ZERO = 1;
    static final int DATA = 2;
    static final int COMPRESSED = 3;

    private Subclusters() {
    }

    /** The state (UNALLOC, ZERO, DATA, COMPRESSED) of subcluster {@code sc} of a cluster. */
    static int state(boolean extendedL2, long entry, long bitmap, int sc) {
        if (L2Entry.isCompressed(entry)) {
            return COMPRESSED;
        }
        if (extendedL2) {
            if ((L2Entry.allocBits(bitmap) & (1 << sc)) != 0) {
                return DATA;
            }
            return (L2Entry.zeroBits(bitmap) & (1 << sc)) != 0 ? ZERO : UNALLOC;
        }
        switch (L2Entry.kind(entry)) {
            case NORMAL: return DATA;
            case ZERO_PLAIN: case ZERO_ALLOC: return ZERO;
            default: return UNALLOC;
        }
    }

    /** The bitmap bits of subclusters s0..s1. */
    static int mask(int s0, int s1) {
        long m = ((1L << (s1 + 1)) - 1) & ~((1L << s0) - 1);
        return (int) m;
    }
}
