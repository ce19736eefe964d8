package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.table.ClusterMap;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;

/**
 * L2 tables made writable (allocated, or copied when shared with a snapshot), the release of
 * the clusters an L2 entry stops naming, and preallocation=metadata. Runs under the image's
 * write lock.
 */
public final class ClusterAllocator {
    private final ImageState state;
    private final ClusterMap map;
    private final RefcountManager refcounts;
    private final int clusterBits;
    private final int cs;

    public ClusterAllocator(ImageState state) {
        this.state = state;
        this.map = state.map();
        this.refcounts = state.refcounts();
        this.clusterBits = state.clusterBits();
        this.cs = state.clusterSize();
    }

    /** The L2 table for a guest offset, allocated or copied (if shared) so it can be changed. */
    CachedTable tableForWrite(long guest) throws IOException {
        int l1i = map.l1Index(guest);
        CachedTable t = map.table(l1i);
        if (t == null) {
            long off = refcounts.allocate(1);
            state.checkNotMetadata(off, cs);
            t = new CachedTable(off, new byte[cs]);
            t.markDirty();
            map.setTable(l1i, t);
        } else if (!map.l1Copied(l1i)) {
            long off = refcounts.allocate(1);
            state.checkNotMetadata(off, cs);
            CachedTable copy = new CachedTable(off, t.data().clone());
            copy.markDirty();
            map.setTable(l1i, copy);
            state.writeback().release(t.offset(), 1);
            t = copy;
        }
        return t;
    }

    /** Drops the reference of an L2 entry that no longer names its cluster(s). */
    void releaseOld(long entry) throws IOException {
        if (L2Entry.isCompressed(entry)) {
            long host = L2Entry.compressedHostOffset(entry, clusterBits);
            long from = (host & ~511L) >>> clusterBits;
            long to = ((host & ~511L) + (long) L2Entry.compressedSectors(entry, clusterBits) * 512 - 1) >>> clusterBits;
            state.writeback().release(from << clusterBits, to - from + 1);
        } else if (L2Entry.hostOffset(entry) != 0) {
            state.writeback().release(L2Entry.hostOffset(entry), 1);
        }
    }

    /** preallocation=metadata: every cluster gets an L2 entry and a host cluster, contiguous. */
    public void preallocate() throws IOException {
        long size = state.header().size();
        int perTable = map.l2Entries();
        long tableSpan = (long) perTable << clusterBits;
        long lastEnd = 0;
        for (long base = 0; base < size; base += tableSpan) {
            CachedTable t = tableForWrite(base);
            int n = (int) Math.min(perTable, (size - base + cs - 1) >>> clusterBits);
            long host = refcounts.allocate(n);
            for (int i = 0; i < n; i++) {
                long bitmap = state.extendedL2() ? L2Entry.bitmap(-1, 0) : 0;
                map.setEntry(t, i, (host + ((long) i << clusterBits)) | L2Entry.COPIED, bitmap);
            }
            lastEnd = Math.max(lastEnd, host + ((long) n << clusterBits));
            state.writeback().writebackIfCacheFull();
            state.writeback().commitIfTransactionFull();
        }
        if (state.data().size() < lastEnd) {
            state.data().truncate(lastEnd);
        }
    }
}
