package io.qjournal.qcow2.dedup;

import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.table.ClusterMap;
import java.io.IOException;

/**
 * Walks the entries of the active L1/L2 tables (the guest's current view) that lie inside the
 * virtual size. Snapshot tables are never walked: a cluster they reference has a refcount
 * above its active references, which is how callers tell it apart. Active L2 tables shared
 * with a snapshot (L1 entry without COPIED) are not walked either: changing an entry there
 * would change the snapshot; {@link #sharedTables} counts them.
 */
final class ActiveL2 {
    interface Visitor {
        void entry(long guestOffset, long entry, long bitmap) throws IOException;
    }

    private ActiveL2() {
    }

    static void walk(ClusterMap map, int clusterBits, long virtualSize, Visitor v) throws IOException {
        int l2Bits = map.l2Bits();
        for (int l1 = 0; l1 < map.l1Size(); l1++) {
            CachedTable t = map.table(l1);
            if (t == null || !map.l1Copied(l1)) {
                continue;
            }
            for (int i = 0; i < map.l2Entries(); i++) {
                long guest = (((long) l1 << l2Bits) + i) << clusterBits;
                if (guest >= virtualSize) {
                    return;
                }
                // Re-fetch per entry: the visitor may touch other tables and the cache may drop this one.
                t = map.table(l1);
                long e = map.entry(t, i);
                if (e != 0 || map.extended()) {
                    v.entry(guest, e, map.bitmap(t, i));
                }
            }
        }
    }

    /** Active L2 tables that are shared with a snapshot (and so left alone). */
    static int sharedTables(ClusterMap map) {
        int n = 0;
        for (int l1 = 0; l1 < map.l1Size(); l1++) {
            if (map.l1Entry(l1) != 0 && !map.l1Copied(l1)) {
                n++;
            }
        }
        return n;
    }

    /** The L2 entry of a guest cluster (0 when the L2 table is unallocated). */
    static long entry(ClusterMap map, long guest) throws IOException {
        CachedTable t = map.table(map.l1Index(guest));
        return t == null ? 0 : map.entry(t, map.l2Index(guest));
    }

    static long bitmap(ClusterMap map, long guest) throws IOException {
        CachedTable t = map.table(map.l1Index(guest));
        return t == null ? 0 : map.bitmap(t, map.l2Index(guest));
    }

    /** Rewrites the L2 entry of a guest cluster whose table exists. */
    static void set(ClusterMap map, long guest, long entry, long bitmap) throws IOException {
        CachedTable t = map.table(map.l1Index(guest));
        map.setEntry(t, map.l2Index(guest), entry, bitmap);
    }
}
