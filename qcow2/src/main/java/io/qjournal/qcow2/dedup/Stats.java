package io.qjournal.qcow2.dedup;

import java.util.ArrayList;
import java.util.List;

/** Counters of one run, and what the dry run would change (it changes nothing itself). */
final class Stats {
    long clustersScanned;
    long duplicateClusters;
    long zeroClusters;
    long movedClusters;
    long bytesFingerprinted;
    long bytesScanned;
    long bytesWon;
    long compressed;
    long shared;
    long partial;
    long inconsistent;
    long refcountFull;
    /** Clusters whose fingerprint matched an earlier cluster's although their bytes differ. */
    long fingerprintCollisions;
    final List<String> skipped = new ArrayList<>();

    /** Dry run only: refcount changes per host cluster index the real run would make. */
    final java.util.HashMap<Long, Long> refDelta = new java.util.HashMap<>();
    /** Dry run only: guest offset to the host offset it would point at (0: unmapped). */
    final java.util.HashMap<Long, Long> remap = new java.util.HashMap<>();

    void addRef(long hostCluster, long delta) {
        refDelta.merge(hostCluster, delta, Long::sum);
    }

    long refDelta(long hostCluster) {
        Long d = refDelta.get(hostCluster);
        return d == null ? 0 : d;
    }
}
