package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.table.ClusterMap;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;

/**
 * Guest writes mapped through L1/L2 (QEMU's qcow2-cluster.c): runs of clusters with one I/O,
 * single clusters written in place, allocated, or copied on write (backing files, snapshot
 * shared and compressed clusters, delayed copies with a journal), and subclusters. Runs under
 * the image's write lock.
 */
public final class ClusterWriter {
    private final ImageState state;
    private final Storage storage;
    private final ClusterMap map;
    private final RefcountManager refcounts;
    private final int cs;
    private final boolean ext;
    private final int scSize;
    private final ClusterReader reader;
    private final ClusterAllocator allocator;
    private final GuestData data;
    private final DelayedCopyOnWrite delayed;

    public ClusterWriter(ImageState state, ClusterReader reader, ClusterAllocator allocator) {
        this.state = state;
        this.storage = state.data();
        this.map = state.map();
        this.refcounts = state.refcounts();
        this.cs = state.clusterSize();
        this.ext = state.extendedL2();
        this.scSize = state.subclusterSize();
        this.reader = reader;
        this.allocator = allocator;
        this.data = new GuestData(state);
        this.delayed = new DelayedCopyOnWrite(state);
    }

    /**
     * Writes {@code len} bytes of {@code src} from index {@code off}. With {@code deferFresh},
     * the data of clusters taken from past the end of the file is queued in
     * {@link ImageState#dataWrites} for after the lock's release.
     */
    public void write(long offset, WriteSource src, int off, int len, boolean deferFresh) throws IOException {
        data.deferFresh(deferFresh);
        try {
            write(offset, src, off, len);
        } finally {
            data.deferFresh(false);
        }
    }

    /**
     * Runs of clusters go straight from the source to the file; anything needing a merge goes
     * cluster by cluster. A buffer tries a run even for one cluster written in part: a 4 KiB
     * guest write into a new cluster then costs no heap copy.
     */
    private void write(long offset, WriteSource src, int off, int len) throws IOException {
        boolean array = src instanceof WriteSource.Array;
        while (len > 0) {
            long start = offset & ~(long) (cs - 1);
            int co = (int) (offset - start);
            int n = Math.min(len, cs - co);
            if (!ext && (n < len || !array)) {
                int done = writeRun(start, co, src, off, len);
                if (done > 0) {
                    offset += done;
                    off += done;
                    len -= done;
                    state.writeback().commitIfTransactionFull();
                    continue;
                }
            }
            if (array) {
                writeChunk(start, co, ((WriteSource.Array) src).buf(), off, n);
            } else {
                byte[] tmp = new byte[n];
                src.copyTo(off, tmp, 0, n);
                writeChunk(start, co, tmp, 0, n);
            }
            offset += n;
            off += n;
            len -= n;
            state.writeback().commitIfTransactionFull();
        }
    }

    /**
     * A write spanning clusters of one L2 table with one I/O: either all are owned data
     * clusters lying contiguously (overwrite in place), or all read as zeros without a backing
     * file and get one contiguous allocation (fresh space, or every cluster fully covered).
     * Returns the bytes written, or 0 to fall back to cluster by cluster.
     */
    private int writeRun(long start, int co, WriteSource buf, int off, int len) throws IOException {
        CachedTable t = map.table(map.l1Index(start));
        if (t == null || !map.l1Copied(map.l1Index(start))) {
            return 0;
        }
        int l2i = map.l2Index(start);
        int maxClusters = Math.min(map.l2Entries() - l2i, (co + len + cs - 1) / cs);
        long first = map.entry(t, l2i);
        map.validate(first, 0, start);
        L2Entry.Kind kind = L2Entry.kind(first);
        boolean noBacking = state.backing() == null;
        boolean inPlace = kind == L2Entry.Kind.NORMAL && L2Entry.isCopied(first);
        boolean zero = (kind == L2Entry.Kind.UNALLOCATED && noBacking) || kind == L2Entry.Kind.ZERO_PLAIN;
        if (!inPlace && !zero) {
            return 0;
        }
        int k = 1;
        while (k < maxClusters) {
            long e = map.entry(t, l2i + k);
            map.validate(e, 0, start + (long) k * cs);
            L2Entry.Kind kk = L2Entry.kind(e);
            boolean ok = inPlace
                    ? kk == L2Entry.Kind.NORMAL && L2Entry.isCopied(e) && L2Entry.hostOffset(e) == L2Entry.hostOffset(first) + (long) k * cs
                    : (kk == L2Entry.Kind.UNALLOCATED && noBacking) || kk == L2Entry.Kind.ZERO_PLAIN;
            if (!ok) {
                break;
            }
            k++;
        }
        int bytes = (int) Math.min(len, (long) k * cs - co);
        if (inPlace) {
            long host = L2Entry.hostOffset(first);
            state.checkNotMetadata(host, (long) k * cs);
            for (int i = 0; i < k; i++) {
                delayed.performBeforeWrite(host + (long) i * cs);
            }
            data.write(host + co, buf, off, bytes);
            return bytes;
        }
        long fileEnd = storage.size();
        long newHost = refcounts.allocate(k);
        state.checkNotMetadata(newHost, (long) k * cs);
        boolean fresh = newHost >= fileEnd;
        if (!fresh) {
            // Reused space: only clusters the write covers completely may skip zeroing.
            if (co != 0 || (co + bytes) % cs != 0) {
                byte[] c = new byte[k * cs];
                buf.copyTo(off, c, co, bytes);
                storage.write(newHost, c, 0, c.length);
            } else {
                buf.writeTo(storage, newHost, off, bytes);
            }
            state.needDataBarrier();
        } else {
            data.writeFresh(newHost + co, buf, off, bytes);
        }
        for (int i = 0; i < k; i++) {
            map.setEntry(t, l2i + i, (newHost + (long) i * cs) | L2Entry.COPIED, 0);
        }
        return bytes;
    }

    /** Writes [co, co+n) of the cluster at guest offset {@code start}. */
    void writeChunk(long start, int co, byte[] buf, int off, int n) throws IOException {
        CachedTable t = allocator.tableForWrite(start);
        int l2i = map.l2Index(start);
        long entry = map.entry(t, l2i);
        long bitmap = map.bitmap(t, l2i);
        map.validate(entry, bitmap, start);
        if (ext) {
            writeSubclusterChunk(t, l2i, entry, bitmap, start, co, buf, off, n);
            return;
        }
        long host = L2Entry.hostOffset(entry);
        boolean copied = L2Entry.isCopied(entry);
        L2Entry.Kind kind = L2Entry.kind(entry);
        if (copied && (kind == L2Entry.Kind.NORMAL || kind == L2Entry.Kind.ZERO_ALLOC)) {
            state.checkNotMetadata(host, cs);
            delayed.performBeforeWrite(host);
        }
        if (kind == L2Entry.Kind.NORMAL && copied) {
            data.write(host + co, WriteSource.of(buf), off, n);
            return;
        }
        if (kind == L2Entry.Kind.ZERO_ALLOC && copied) {
            byte[] c = new byte[cs];
            System.arraycopy(buf, off, c, co, n);
            storage.write(host, c, 0, cs);
            map.setEntry(t, l2i, host | L2Entry.COPIED, 0);
            state.needDataBarrier();
            return;
        }
        boolean oldZero = kind == L2Entry.Kind.ZERO_PLAIN || kind == L2Entry.Kind.ZERO_ALLOC
                || (kind == L2Entry.Kind.UNALLOCATED && state.backing() == null);
        if (kind == L2Entry.Kind.NORMAL && state.journalWriter() != null) {
            delayed.copy(t, l2i, entry, co, buf, off, n);
            return;
        }
        long fileEnd = storage.size();
        long newHost = refcounts.allocate(1);
        state.checkNotMetadata(newHost, cs);
        boolean fresh = oldZero && newHost >= fileEnd;
        if (!fresh) {
            state.needDataBarrier();
        }
        if (fresh) {
            data.writeFresh(newHost + co, WriteSource.of(buf), off, n);
        } else if (n == cs) {
            storage.write(newHost + co, buf, off, n);
        } else {
            writeMerged(newHost, start, entry, bitmap, co, buf, off, n);
        }
        map.setEntry(t, l2i, newHost | L2Entry.COPIED, 0);
        allocator.releaseOld(entry);
    }

    /** The chunk of an extended L2 entry: subclusters written in place, or a new cluster. */
    private void writeSubclusterChunk(CachedTable t, int l2i, long entry, long bitmap, long start, int co,
            byte[] buf, int off, int n) throws IOException {
        long host = L2Entry.hostOffset(entry);
        boolean compressed = L2Entry.isCompressed(entry);
        int s0 = co / scSize;
        int s1 = (co + n - 1) / scSize;
        int touched = Subclusters.mask(s0, s1);
        int alloc = L2Entry.allocBits(bitmap);
        int zero = L2Entry.zeroBits(bitmap);
        boolean headPartial = co % scSize != 0 || (s0 == s1 && n < scSize);
        boolean tailPartial = (co + n) % scSize != 0;
        boolean needFill = (headPartial && (alloc & (1 << s0)) == 0) || (tailPartial && (alloc & (1 << s1)) == 0);
        if (!compressed && host != 0 && L2Entry.isCopied(entry)) {
            state.checkNotMetadata(host, cs);
            writeSubclusters(start, entry, bitmap, host, s0, s1, co, buf, off, n, needFill);
            long nb = L2Entry.bitmap(alloc | touched, zero & ~touched);
            if (nb != bitmap) {
                map.setEntry(t, l2i, entry, nb);
                state.needDataBarrier();
            }
            return;
        }
        long fileEnd = storage.size();
        long newHost = refcounts.allocate(1);
        state.checkNotMetadata(newHost, cs);
        long newBitmap;
        if (compressed) {
            state.needDataBarrier();
            byte[] c = reader.decompress(entry).clone();
            System.arraycopy(buf, off, c, co, n);
            storage.write(newHost, c, 0, cs);
            newBitmap = L2Entry.bitmap(-1, 0);
        } else {
            int oldAlloc = host != 0 ? alloc : 0;
            if (oldAlloc != 0 || newHost < fileEnd || state.backing() != null) {
                state.needDataBarrier();
            }
            if (oldAlloc == 0 && newHost >= fileEnd) {
                writeSubclusters(start, entry, bitmap, newHost, s0, s1, co, buf, off, n, needFill);
            } else {
                writeMerged(newHost, start, entry, bitmap, co, buf, off, n);
            }
            newBitmap = L2Entry.bitmap(oldAlloc | touched, zero & ~touched);
        }
        map.setEntry(t, l2i, newHost | L2Entry.COPIED, newBitmap);
        allocator.releaseOld(entry);
    }

    /** The whole cluster at {@code newHost}: its old contents with the guest's bytes over them. */
    private void writeMerged(long newHost, long start, long entry, long bitmap, int co, byte[] buf, int off, int n)
            throws IOException {
        byte[] c = new byte[cs];
        reader.readCluster(start, entry, bitmap, 0, c, 0, cs);
        System.arraycopy(buf, off, c, co, n);
        storage.write(newHost, c, 0, cs);
    }

    /** Writes whole subclusters s0..s1 at {@code host}, filling partial ones from their old contents. */
    private void writeSubclusters(long start, long entry, long bitmap, long host, int s0, int s1, int co,
            byte[] buf, int off, int n, boolean needFill) throws IOException {
        if (!needFill) {
            storage.write(host + co, buf, off, n);
            return;
        }
        int from = s0 * scSize;
        int to = (s1 + 1) * scSize;
        byte[] c = new byte[to - from];
        reader.readCluster(start, entry, bitmap, from, c, 0, to - from);
        System.arraycopy(buf, off, c, co - from, n);
        storage.write(host + from, c, 0, c.length);
    }
}
