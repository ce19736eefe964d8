package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.journal.format.JournalExtension;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.table.ClusterMap;

/**
 * QEMU's overlap check (overlap-check=cached): which live metadata structure, if any, a
 * cluster holds, named as QEMU names it in its "Preventing invalid write on metadata" error.
 */
final class MetadataOverlap {
    private MetadataOverlap() {
    }

    /** The structure at host cluster offset {@code c}, or null when it holds none. */
    static String at(long c, int clusterSize, ClusterMap map, RefcountManager refcounts, JournalExtension journal) {
        if (c < clusterSize) {
            return "qcow2_header";
        }
        if (overlaps(c, clusterSize, map.l1Offset(), (long) map.l1Size() * 8)) {
            return "active L1 table";
        }
        if (overlaps(c, clusterSize, refcounts.tableOffset(), (long) refcounts.tableClusters() * clusterSize)) {
            return "refcount table";
        }
        if (journal != null && overlaps(c, clusterSize, journal.offset(), journal.size())) {
            return "journal";
        }
        if (map.isL2Table(c)) {
            return "active L2 table";
        }
        if (refcounts.isBlock(c)) {
            return "refcount block";
        }
        return null;
    }

    private static boolean overlaps(long cluster, int clusterSize, long start, long len) {
        return len > 0 && cluster < start + len && start < cluster + clusterSize;
    }
}
