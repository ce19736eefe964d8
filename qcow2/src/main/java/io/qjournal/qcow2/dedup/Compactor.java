package io.qjournal.qcow2.dedup;

import io.qjournal.qcow2.Maintenance;
import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.journal.format.JournalExtension;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.BitSet;
import java.util.HashMap;

/**
 * The compaction pass: moves data clusters, active L2 tables and refcount blocks from the end of
 * the file down into free clusters, so the clean close can cut the file. A data cluster moves
 * only when every reference to it is an active L2 entry (its refcount equals the active
 * references): then all of them switch in one transaction; an L2 table only when the active L1
 * alone references it. The walk from the top stops at the first cluster that cannot move (other
 * metadata, a compressed cluster, one a snapshot also references): moving anything below it
 * would not let the file shrink.
 *
 * <p>Crash safety of one move: the bytes are copied into a cluster that is free on disk (a crash
 * leaves garbage in free space), the copy is made durable, and only then does the transaction
 * that switches the L2 entries, counts the new cluster and frees the old one commit.
 */
final class Compactor {
    private final Maintenance m;
    private final Stats stats;
    private final DedupCompactor.Progress progress;
    private final boolean dryRun;
    private final int cb;
    private final int cs;
    private final boolean extended;
    /** Host cluster index to its first active guest offset; -1 once moved away. */
    private LongLongMap firstRef;
    /** Host cluster index of each active L2 table to its L1 index; -1 once moved away. */
    private LongLongMap l2ToL1;
    /** Further active references of shared clusters. */
    private final HashMap<Long, long[]> moreRefs = new HashMap<>();
    /** Dry run: clusters the simulated moves took. */
    private final BitSet taken = new BitSet();
    private long highestAfter;

    Compactor(Maintenance m, Stats stats, DedupCompactor.Progress progress, boolean dryRun) {
        this.m = m;
        this.stats = stats;
        this.progress = progress;
        this.dryRun = dryRun;
        this.cb = m.clusterBits();
        this.cs = 1 << cb;
        this.extended = m.map().extended();
    }

    /** Highest cluster index in use when the pass ends (the dry run's estimate of the new end). */
    long highestAfter() {
        return highestAfter;
    }

    void run(long virtualSize) throws IOException {
        collectRefs(virtualSize);
        JournalExtension j = dryRun ? null : m.journalExtension();
        long jFirst = j == null ? -1 : j.offset() >>> cb;
        long jEnd = j == null ? -1 : (j.offset() + j.size() + cs - 1) >>> cb;
        long top = m.refcounts().highestUsedCluster();
        long lowFree = 0;
        ByteBuffer buf = Deduplicator.aligned(cs);
        while (top > 0) {
            // The journal's clusters are freed by the clean close: they do not hold the end up.
            if (refcount(top) == 0 || (top >= jFirst && top < jEnd)) {
                top--;
                continue;
            }
            lowFree = nextFree(lowFree);
            if (lowFree >= top) {
                break;
            }
            long refs = refs(top);
            int l1 = l1Of(top);
            boolean table = l1 >= 0 && m.map().l1Copied(l1) && refcount(top) == 1;
            boolean refblock = !table && refs == 0 && m.refcounts().isBlock(top << cb) && refcount(top) == 1;
            if (!table && !refblock && (refs == 0 || refcount(top) != refs)) {
                stats.skipped.add(String.format("compaction stopped at host offset 0x%x: not a data cluster only"
                        + " the active tables reference, an active L2 table or a refcount block (other metadata,"
                        + " compressed, or shared with a snapshot)", top << cb));
                break;
            }
            if (dryRun) {
                taken.set((int) lowFree);
                relocateRefs(top, lowFree);
            } else {
                // The lowest free cluster is what the allocator hands out; anything else means
                // its view differs (a reservation), and the pass ends rather than guess.
                long target = m.refcounts().allocate(1) >>> cb;
                if (target != lowFree) {
                    m.refcounts().update(target << cb, 1, -1);
                    break;
                }
                if (table) {
                    moveTable(l1, top, target);
                } else if (refblock) {
                    // The copy and the table entry travel in one transaction with the old block's free.
                    m.moveRefcountBlock(top << cb, target << cb);
                    if (m.transactionFull()) {
                        m.commit(true);
                    }
                } else {
                    move(top, target, refs, buf);
                }
            }
            if (table) {
                l2ToL1.put(top, -1);
                l2ToL1.put(lowFree, l1);
            }
            stats.movedClusters++;
            top--;
            if (stats.movedClusters % 64 == 0) {
                progress.advanced(stats.bytesScanned, stats.bytesWon);
            }
        }
        highestAfter = top;
        if (!dryRun) {
            m.commit(true);
        }
        progress.advanced(stats.bytesScanned, stats.bytesWon);
    }

    private void move(long from, long to, long refs, ByteBuffer buf) throws IOException {
        buf.clear().limit(cs);
        m.storage().read(from << cb, buf);
        buf.flip();
        m.storage().write(to << cb, buf.duplicate());
        if (refs > 1) {
            m.refcounts().update(to << cb, 1, refs - 1);
        }
        repoint(firstRef.get(from), from, to);
        long[] more = moreRefs.get(from);
        if (more != null) {
            for (long g : more) {
                repoint(g, from, to);
            }
            // The index follows the shared cluster to its new place.
            MessageDigest sha = Deduplicator.sha256();
            sha.update(buf.duplicate());
            byte[] hash = sha.digest();
            m.dedupEntry(false, hash, from << cb);
            m.dedupEntry(true, hash, to << cb);
            m.refcounts().update(from << cb, 1, -(refs - 1));
        }
        m.release(from << cb, 1);
        relocateRefs(from, to);
        if (m.transactionFull()) {
            m.commit(true);
        }
    }

    /**
     * Moves an active L2 table that only the active L1 references: the copy (the cached table,
     * with every committed change) travels in the transaction that points the L1 entry at it and
     * frees the old cluster, so replay writes it and a crash before the commit leaves the old one.
     */
    private void moveTable(int l1, long from, long to) throws IOException {
        CachedTable old = m.map().table(l1);
        CachedTable copy = new CachedTable(to << cb, old.data().clone());
        copy.markDirty();
        m.map().setTable(l1, copy);
        m.map().dropTable(from << cb);
        m.release(from << cb, 1);
        if (m.transactionFull()) {
            m.commit(true);
        }
    }

    private int l1Of(long cluster) {
        long l1 = l2ToL1.get(cluster);
        return l1 == LongLongMap.ABSENT ? -1 : (int) l1;
    }

    private void relocateRefs(long from, long to) {
        firstRef.put(to, firstRef.get(from));
        firstRef.put(from, -1);
        long[] more = moreRefs.remove(from);
        if (more != null) {
            moreRefs.put(to, more);
        }
    }

    private void repoint(long guest, long from, long to) throws IOException {
        long e = ActiveL2.entry(m.map(), guest);
        if (L2Entry.hostOffset(e) != from << cb) {
            throw new IllegalStateException("L2 entry of guest offset " + guest + " changed under compaction");
        }
        ActiveL2.set(m.map(), guest, (e & ~L2Entry.OFFSET_MASK) | (to << cb), ActiveL2.bitmap(m.map(), guest));
    }

    private void collectRefs(long virtualSize) throws IOException {
        firstRef = new LongLongMap(1 << 12);
        l2ToL1 = new LongLongMap(Math.max(16, m.map().l1Size()));
        for (int i = 0; i < m.map().l1Size(); i++) {
            long off = m.map().l1Entry(i) & L2Entry.OFFSET_MASK;
            if (off != 0) {
                l2ToL1.put(off >>> cb, i);
            }
        }
        ActiveL2.walk(m.map(), cb, virtualSize, (guest, e, bitmap) -> {
            long host = L2Entry.hostOffset(e);
            if (dryRun) {
                Long r = stats.remap.get(guest);
                host = r == null ? host : r;
            }
            if (L2Entry.isCompressed(e) || host == 0 || (!extended && (e & L2Entry.ZERO) != 0)) {
                return;
            }
            long c = host >>> cb;
            if (firstRef.get(c) == LongLongMap.ABSENT) {
                firstRef.put(c, guest);
            } else {
                long[] more = moreRefs.get(c);
                long[] grown = more == null ? new long[1] : java.util.Arrays.copyOf(more, more.length + 1);
                grown[grown.length - 1] = guest;
                moreRefs.put(c, grown);
            }
        });
    }

    private long refs(long cluster) {
        long g = firstRef.get(cluster);
        if (g == LongLongMap.ABSENT || g == -1) {
            return 0;
        }
        long[] more = moreRefs.get(cluster);
        return 1 + (more == null ? 0 : more.length);
    }

    private long refcount(long cluster) throws IOException {
        long rc = m.refcounts().get(cluster);
        return dryRun ? rc + stats.refDelta(cluster) + (taken.get((int) cluster) ? 1 : 0) : rc;
    }

    /** The lowest cluster at or above {@code from} that is free (in the dry run: in the simulated image). */
    private long nextFree(long from) throws IOException {
        long c = from;
        while (refcount(c) != 0) {
            c++;
        }
        return c;
    }
}
