package io.qjournal.qcow2.dedup;

import java.util.Arrays;

/**
 * Open-addressing long to long map with linear probing: two flat arrays instead of a boxed
 * HashMap, so 262144 clusters cost about 8 MiB. Key {@link Long#MIN_VALUE} is reserved (empty
 * slot). No removal.
 */
final class LongLongMap {
    static final long ABSENT = Long.MIN_VALUE;
    private long[] keys;
    private long[] values;
    private int size;

    LongLongMap(int expected) {
        int cap = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
        keys = new long[cap];
        values = new long[cap];
        Arrays.fill(keys, ABSENT);
    }

    /** The value for a key, or {@link #ABSENT}. */
    long get(long key) {
        int mask = keys.length - 1;
        for (int i = slot(key, mask); ; i = (i + 1) & mask) {
            long k = keys[i];
            if (k == key) {
                return values[i];
            }
            if (k == ABSENT) {
                return ABSENT;
            }
        }
    }

    void put(long key, long value) {
        if (key == ABSENT) {
            throw new IllegalArgumentException("reserved key");
        }
        if ((size + 1) * 2L > keys.length) {
            grow();
        }
        int mask = keys.length - 1;
        for (int i = slot(key, mask); ; i = (i + 1) & mask) {
            if (keys[i] == key) {
                values[i] = value;
                return;
            }
            if (keys[i] == ABSENT) {
                keys[i] = key;
                values[i] = value;
                size++;
                return;
            }
        }
    }

    int size() {
        return size;
    }

    private void grow() {
        long[] ok = keys;
        long[] ov = values;
        keys = new long[ok.length * 2];
        values = new long[ov.length * 2];
        Arrays.fill(keys, ABSENT);
        size = 0;
        for (int i = 0; i < ok.length; i++) {
            if (ok[i] != ABSENT) {
                put(ok[i], ov[i]);
            }
        }
    }

    private static int slot(long key, int mask) {
        // Keys are hash prefixes or cluster indexes: mix so sequential indexes spread out.
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 32)) & mask;
    }
}
