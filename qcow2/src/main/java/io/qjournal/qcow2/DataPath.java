package io.qjournal.qcow2;

import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.meta.Copy;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.table.ClusterMap;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;

/**
 * Guest reads and writes mapped through L1/L2: allocation, copy-on-write (backing files,
 * snapshot-shared and compressed clusters), zero flags, discard, subclusters. The image holds
 * its lock around every call (read lock for reads, write lock for the rest).
 */
final class DataPath {
    static final int UNALLOC = 0;
    static final int ZERO = 1;
    static final int DATA = 2;
    static final int COMPRESSED = 3;

    private final Qcow2Image image;
    private final Storage storage;
    private final ClusterMap map;
    private final RefcountManager refcounts;
    private final int clusterBits;
    private final int cs;
    private final boolean ext;
    private final int scSize;
    private final int version;
    /** Set, and {@link #deferred} used, only under the image's write lock. */
    private boolean deferring;
    private final java.util.ArrayList<DeferredWrite> deferred = new java.util.ArrayList<>();
    private final ZeroesAndDiscard zeroes;
    private final ClusterStatus status;
    private final CompressedClusters compressedClusters;

    DataPath(Qcow2Image image) {
        this.image = image;
        this.storage = new io.qjournal.qcow2.meta.DataStorage(image.storage(), image::journalWriter);
        this.map = image.map();
        this.refcounts = image.refcounts();
        this.clusterBits = image.clusterBits();
        this.cs = 1 << clusterBits;
        this.ext = map.extended();
        this.scSize = ext ? cs / 32 : cs;
        this.version = image.header().version();
        this.zeroes = new ZeroesAndDiscard(image, this);
        this.compressedClusters = new CompressedClusters(image, this, storage);
        this.status = new ClusterStatus(image, this);
    }

    // ---- reads ----

    void read(long offset, byte[] buf, int off, int len) throws IOException {
        while (len > 0) {
            long start = offset & ~(long) (cs - 1);
            int co = (int) (offset - start);
            int n = Math.min(len, cs - co);
            CachedTable t = map.table(map.l1Index(start));
            long entry = t == null ? 0 : map.entry(t, map.l2Index(start));
            long bitmap = t == null ? 0 : map.bitmap(t, map.l2Index(start));
            if (t != null) {
                map.validate(entry, bitmap, start);
            }
            if (!ext && L2Entry.kind(entry) == L2Entry.Kind.NORMAL && n < len) {
                // Contiguous data clusters in the same L2 table: one read instead of one per cluster.
                long host = L2Entry.hostOffset(entry);
                int run = n;
                int l2i = map.l2Index(start);
                while (run < len && l2i + 1 < map.l2Entries()) {
                    long next = map.entry(t, ++l2i);
                    if (L2Entry.kind(next) != L2Entry.Kind.NORMAL || L2Entry.hostOffset(next) != host + co + run) {
                        break;
                    }
                    map.validate(next, 0, start + co + run);
                    run += Math.min(len - run, cs);
                }
                storage.read(host + co, buf, off, run);
                overlayDelayedCopies(host + co, buf, off, run);
                n = run;
            } else {
                readCluster(start, entry, bitmap, co, buf, off, n);
            }
            offset += n;
            off += n;
            len -= n;
        }
    }

    /** The state (UNALLOC, ZERO, DATA, COMPRESSED) of subcluster {@code sc} of a cluster. */
    int state(long entry, long bitmap, int sc) {
        if (L2Entry.isCompressed(entry)) {
            return COMPRESSED;
        }
        if (ext) {
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

    /** Reads [co, co+n) of the cluster at guest offset {@code start} as described by entry/bitmap. */
    private void readCluster(long start, long entry, long bitmap, int co, byte[] buf, int off, int n)
            throws IOException {
        if (L2Entry.isCompressed(entry)) {
            System.arraycopy(compressedClusters.decompress(entry), co, buf, off, n);
            return;
        }
        long host = L2Entry.hostOffset(entry);
        int pos = co;
        int end = co + n;
        while (pos < end) {
            int sc = pos / scSize;
            int st = state(entry, bitmap, sc);
            int runEnd = Math.min(end, (sc + 1) * scSize);
            while (runEnd < end && state(entry, bitmap, runEnd / scSize) == st) {
                runEnd = Math.min(end, (runEnd / scSize + 1) * scSize);
            }
            int len = runEnd - pos;
            int bo = off + (pos - co);
            if (st == DATA) {
                storage.read(host + pos, buf, bo, len);
                overlayDelayedCopies(host + pos, buf, bo, len);
            } else if (st == ZERO) {
                Arrays.fill(buf, bo, bo + len, (byte) 0);
            } else {
                readBacking(start + pos, buf, bo, len);
            }
            pos = runEnd;
        }
    }

    private void readBacking(long guest, byte[] buf, int off, int len) throws IOException {
        BlockDevice b = image.backing();
        long avail = b == null ? 0 : Math.max(0, Math.min(len, b.size() - guest));
        if (avail > 0) {
            b.read(guest, buf, off, (int) avail);
        }
        Arrays.fill(buf, off + (int) avail, off + len, (byte) 0);
    }

    // ---- writes ----

    void write(long offset, byte[] buf, int off, int len) throws IOException {
        while (len > 0) {
            long start = offset & ~(long) (cs - 1);
            int co = (int) (offset - start);
            int n = Math.min(len, cs - co);
            if (n < len && !ext) {
                int done = writeRun(start, co, buf, off, len);
                if (done > 0) {
                    offset += done;
                    off += done;
                    len -= done;
                    image.writeback().commitIfTransactionFull();
                    continue;
                }
            }
            writeChunk(start, co, buf, off, n);
            offset += n;
            off += n;
            len -= n;
            image.writeback().commitIfTransactionFull();
        }
    }

    /**
     * A write spanning several clusters of one L2 table with one I/O: either all are owned data
     * clusters lying contiguously (overwrite in place), or all read as zeros without a backing
     * file and get one contiguous allocation (fresh space, or every cluster fully covered).
     * Returns the bytes written, or 0 to fall back to cluster by cluster.
     */
    private int writeRun(long start, int co, byte[] buf, int off, int len) throws IOException {
        return writeRun(start, co, new ArraySource(buf), off, len);
    }

    /** Bytes of a guest write: a heap array, or a (direct) buffer written without copying. */
    private interface Source {
        void writeTo(Storage storage, long at, int from, int len) throws IOException;

        void copyTo(int from, byte[] dst, int dstOff, int len);
    }

    private record ArraySource(byte[] buf) implements Source {
        public void writeTo(Storage storage, long at, int from, int len) throws IOException {
            storage.write(at, buf, from, len);
        }

        public void copyTo(int from, byte[] dst, int dstOff, int len) {
            System.arraycopy(buf, from, dst, dstOff, len);
        }
    }

    private record BufferSource(java.nio.ByteBuffer buf) implements Source {
        public void writeTo(Storage storage, long at, int from, int len) throws IOException {
            storage.write(at, buf.slice(from, len));
        }

        public void copyTo(int from, byte[] dst, int dstOff, int len) {
            buf.get(from, dst, dstOff, len);
        }
    }

    /**
     * Writes a buffer (indices absolute within it). Runs of clusters go straight from the buffer
     * to the file; anything needing a merge goes through a heap copy of one cluster's part.
     */
    void write(long offset, java.nio.ByteBuffer src, int off, int len) throws IOException {
        Source source = new BufferSource(src);
        while (len > 0) {
            long start = offset & ~(long) (cs - 1);
            int co = (int) (offset - start);
            int n = Math.min(len, cs - co);
            if (!ext) {
                // Runs of clusters, and single ones written in part, straight from the buffer:
                // a 4 KiB guest write into a new cluster costs no heap copy and no allocation.
                int done = writeRun(start, co, source, off, len);
                if (done > 0) {
                    offset += done;
                    off += done;
                    len -= done;
                    image.writeback().commitIfTransactionFull();
                    continue;
                }
            }
            byte[] tmp = new byte[n];
            src.get(off, tmp, 0, n);
            writeChunk(start, co, tmp, 0, n);
            offset += n;
            off += n;
            len -= n;
            image.writeback().commitIfTransactionFull();
        }
    }

    /**
     * Reads into a buffer (indices absolute within it): contiguous data clusters go straight
     * from the file into the buffer; the rest through a heap copy.
     */
    void read(long offset, java.nio.ByteBuffer dst, int off, int len) throws IOException {
        while (len > 0) {
            long start = offset & ~(long) (cs - 1);
            int co = (int) (offset - start);
            int n = Math.min(len, cs - co);
            CachedTable t = map.table(map.l1Index(start));
            long entry = t == null ? 0 : map.entry(t, map.l2Index(start));
            var jw = image.journalWriter();
            if (!ext && t != null && L2Entry.kind(entry) == L2Entry.Kind.NORMAL
                    && (jw == null || jw.copiesInto(L2Entry.hostOffset(entry), cs).isEmpty())) {
                map.validate(entry, 0, start);
                long host = L2Entry.hostOffset(entry);
                int run = n;
                int l2i = map.l2Index(start);
                while (run < len && l2i + 1 < map.l2Entries()) {
                    long next = map.entry(t, ++l2i);
                    if (L2Entry.kind(next) != L2Entry.Kind.NORMAL || L2Entry.hostOffset(next) != host + co + run
                            || (jw != null && !jw.copiesInto(L2Entry.hostOffset(next), cs).isEmpty())) {
                        break;
                    }
                    map.validate(next, 0, start + co + run);
                    run += Math.min(len - run, cs);
                }
                storage.read(host + co, dst.slice(off, run));
                n = run;
            } else if (!ext && image.backing() == null && (t == null || L2Entry.kind(entry) == L2Entry.Kind.UNALLOCATED
                    || L2Entry.kind(entry) == L2Entry.Kind.ZERO_PLAIN || L2Entry.kind(entry) == L2Entry.Kind.ZERO_ALLOC)) {
                if (t != null) {
                    map.validate(entry, 0, start);
                }
                io.qjournal.qcow2.storage.ZeroFill.fill(dst, off, n);
            } else {
                byte[] tmp = new byte[n];
                read(offset, tmp, 0, n);
                dst.put(off, tmp, 0, n);
            }
            offset += n;
            off += n;
            len -= n;
        }
    }

    private int writeRun(long start, int co, Source buf, int off, int len) throws IOException {
        CachedTable t = map.table(map.l1Index(start));
        if (t == null || !map.l1Copied(map.l1Index(start))) {
            return 0;
        }
        int l2i = map.l2Index(start);
        int maxClusters = Math.min(map.l2Entries() - l2i, (co + len + cs - 1) / cs);
        long first = map.entry(t, l2i);
        map.validate(first, 0, start);
        L2Entry.Kind kind = L2Entry.kind(first);
        boolean inPlace = kind == L2Entry.Kind.NORMAL && L2Entry.isCopied(first);
        boolean zero = (kind == L2Entry.Kind.UNALLOCATED && image.backing() == null) || kind == L2Entry.Kind.ZERO_PLAIN;
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
                    : (kk == L2Entry.Kind.UNALLOCATED && image.backing() == null) || kk == L2Entry.Kind.ZERO_PLAIN;
            if (!ok) {
                break;
            }
            k++;
        }
        int bytes = (int) Math.min(len, (long) k * cs - co);
        if (inPlace) {
            long host = L2Entry.hostOffset(first);
            image.checkNotMetadata(host, (long) k * cs);
            for (int i = 0; i < k; i++) {
                performDelayedCopies(host + (long) i * cs);
            }
            writeData(host + co, buf, off, bytes);
            return bytes;
        }
        long fileEnd = storage.size();
        long newHost = refcounts.allocate(k);
        image.checkNotMetadata(newHost, (long) k * cs);
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
            image.needDataBarrier();
        } else {
            writeFreshData(newHost + co, buf, off, bytes);
        }
        for (int i = 0; i < k; i++) {
            map.setEntry(t, l2i + i, (newHost + (long) i * cs) | L2Entry.COPIED, 0);
        }
        return bytes;
    }

    /**
     * Data for clusters just taken from never-written space past the end of the file. When the
     * caller allows it, the bytes are written after the image's lock is released (as QEMU
     * writes guest data outside its metadata lock): a write there can expose no other guest's
     * bytes, nothing else can be allocated at that place meanwhile, and every metadata write
     * (commit, writeback, checkpoint) first waits for such writes, so no L2 entry becomes
     * durable before the data it points at has been written.
     */
    private void writeFreshData(long host, Source src, int from, int len) throws IOException {
        var jw = image.journalWriter();
        if (deferring && !journalsData(jw, len) && (jw == null || !jw.hasDataIn(host, len))) {
            if (jw != null) {
                jw.noteDataWrite(len);
            }
            deferred.add(new DeferredWrite(host, src, from, len));
            return;
        }
        writeData(host, src, from, len);
    }

    /** A guest data write decided under the image's write lock, done after its release. */
    record DeferredWrite(long host, Source src, int from, int len) {
        void run(Storage file) throws IOException {
            src.writeTo(file, host, from, len);
        }
    }

    /** Lets the current write (under the write lock) leave fresh clusters' data for later. */
    void deferFreshData(boolean on) {
        deferring = on;
    }

    /** The writes left for after the lock (and forgets them); under the write lock. */
    List<DeferredWrite> takeDeferred() {
        if (deferred.isEmpty()) {
            return List.of();
        }
        List<DeferredWrite> out = List.copyOf(deferred);
        deferred.clear();
        return out;
    }

    /**
     * Data for a cluster taken from never-written space, or over an owned data cluster: with a
     * journal, a small write travels inside the next transaction. A fresh cluster's commit then
     * needs no flush ordering and grows no file extent; an overwrite needs no metadata, but its
     * in-place flush would still pay for the file's block allocation when it lands in a
     * never-written part of the cluster. Either way one cheap fdatasync of the journal's own
     * blocks makes it durable. Larger ones go in place, safe by rule 1 of the ordering
     * (docs/format/journal.md, 15.4).
     */
    private void writeData(long host, Source src, int from, int len) throws IOException {
        var jw = image.journalWriter();
        if (jw != null) {
            jw.noteDataWrite(len);
        }
        if (journalsData(jw, len)) {
            byte[] b = new byte[len];
            src.copyTo(from, b, 0, len);
            jw.journalData(host, b);
            return;
        }
        src.writeTo(storage, host, from, len);
    }

    /**
     * Whether a guest write of {@code len} bytes travels in the open transaction. Only a few
     * writes per transaction: where a flush follows every write or two the journal saves a
     * costly filesystem commit per flush; where many writes share a flush that flush costs the
     * same either way, and journalled bytes are written twice. The previous transaction tells
     * which case holds: once it carried more guest data than one transaction may journal, the
     * next journals none, and the first transaction, with nothing to go by, journals none
     * either (journalling a quarter of each transaction's writes made many writes per flush
     * slower, not faster). Small journal blocks
     * describe few writes per transaction: there every journalled write would soon force a
     * commit.
     */
    private boolean journalsData(io.qjournal.qcow2.meta.JournalMetadataWriter jw, int len) {
        return jw != null && image.journalOptions().journalData() && len <= JOURNALLED_DATA_MAX
                && jw.pendingDataBytes() + len <= JOURNALLED_DATA_MAX
                && jw.previousTxDataBytes() <= JOURNALLED_DATA_MAX
                && len <= jw.dataBudget() / 4 && jw.maxEntries() >= 128;
    }

    /** Largest guest write that travels in the journal rather than in place. */
    static final int JOURNALLED_DATA_MAX = 64 << 10;

    /** The L2 table for a guest offset, allocated or copied (if shared) so it can be changed. */
    CachedTable tableForWrite(long guest) throws IOException {
        int l1i = map.l1Index(guest);
        CachedTable t = map.table(l1i);
        if (t == null) {
            long off = refcounts.allocate(1);
            image.checkNotMetadata(off, cs);
            t = new CachedTable(off, new byte[cs]);
            t.markDirty();
            map.setTable(l1i, t);
        } else if (!map.l1Copied(l1i)) {
            long off = refcounts.allocate(1);
            image.checkNotMetadata(off, cs);
            CachedTable copy = new CachedTable(off, t.data().clone());
            copy.markDirty();
            map.setTable(l1i, copy);
            image.writeback().release(t.offset(), 1);
            t = copy;
        }
        return t;
    }

    void writeChunk(long start, int co, byte[] buf, int off, int n) throws IOException {
        CachedTable t = tableForWrite(start);
        int l2i = map.l2Index(start);
        long entry = map.entry(t, l2i);
        long bitmap = map.bitmap(t, l2i);
        map.validate(entry, bitmap, start);
        long host = L2Entry.hostOffset(entry);
        boolean compressed = L2Entry.isCompressed(entry);
        boolean copied = L2Entry.isCopied(entry);
        if (!ext) {
            L2Entry.Kind kind = L2Entry.kind(entry);
            if (copied && (kind == L2Entry.Kind.NORMAL || kind == L2Entry.Kind.ZERO_ALLOC)) {
                image.checkNotMetadata(host, cs);
                performDelayedCopies(host);
            }
            if (kind == L2Entry.Kind.NORMAL && copied) {
                writeData(host + co, new ArraySource(buf), off, n);
                return;
            }
            if (kind == L2Entry.Kind.ZERO_ALLOC && copied) {
                byte[] c = new byte[cs];
                System.arraycopy(buf, off, c, co, n);
                storage.write(host, c, 0, cs);
                map.setEntry(t, l2i, host | L2Entry.COPIED, 0);
                image.needDataBarrier();
                return;
            }
            boolean oldZero = kind == L2Entry.Kind.ZERO_PLAIN || kind == L2Entry.Kind.ZERO_ALLOC
                    || (kind == L2Entry.Kind.UNALLOCATED && image.backing() == null);
            if (kind == L2Entry.Kind.NORMAL && image.journalWriter() != null) {
                delayedCopyOnWrite(t, l2i, entry, co, buf, off, n);
                return;
            }
            long fileEnd = storage.size();
            long newHost = refcounts.allocate(1);
            image.checkNotMetadata(newHost, cs);
            boolean fresh = oldZero && newHost >= fileEnd;
            if (!fresh) {
                image.needDataBarrier();
            }
            if (fresh) {
                writeFreshData(newHost + co, new ArraySource(buf), off, n);
            } else if (n == cs) {
                storage.write(newHost + co, buf, off, n);
            } else {
                byte[] c = new byte[cs];
                readCluster(start, entry, bitmap, 0, c, 0, cs);
                System.arraycopy(buf, off, c, co, n);
                storage.write(newHost, c, 0, cs);
            }
            map.setEntry(t, l2i, newHost | L2Entry.COPIED, 0);
            releaseOld(entry);
            return;
        }
        int s0 = co / scSize;
        int s1 = (co + n - 1) / scSize;
        int touched = subclusterMask(s0, s1);
        int alloc = L2Entry.allocBits(bitmap);
        int zero = L2Entry.zeroBits(bitmap);
        boolean headPartial = co % scSize != 0 || (s0 == s1 && n < scSize);
        boolean tailPartial = (co + n) % scSize != 0;
        boolean needFill = (headPartial && (alloc & (1 << s0)) == 0) || (tailPartial && (alloc & (1 << s1)) == 0);
        if (!compressed && host != 0 && copied) {
            image.checkNotMetadata(host, cs);
            writeSubclusters(start, entry, bitmap, host, s0, s1, co, buf, off, n, needFill);
            long nb = L2Entry.bitmap(alloc | touched, zero & ~touched);
            if (nb != bitmap) {
                map.setEntry(t, l2i, entry, nb);
                image.needDataBarrier();
            }
            return;
        }
        long fileEnd = storage.size();
        long newHost = refcounts.allocate(1);
        image.checkNotMetadata(newHost, cs);
        long newBitmap;
        if (compressed) {
            image.needDataBarrier();
            byte[] c = compressedClusters.decompress(entry).clone();
            System.arraycopy(buf, off, c, co, n);
            storage.write(newHost, c, 0, cs);
            newBitmap = L2Entry.bitmap(-1, 0);
        } else {
            int oldAlloc = host != 0 ? alloc : 0;
            if (oldAlloc != 0 || newHost < fileEnd || image.backing() != null) {
                image.needDataBarrier();
            }
            if (oldAlloc == 0 && newHost >= fileEnd) {
                writeSubclusters(start, entry, bitmap, newHost, s0, s1, co, buf, off, n, needFill);
            } else {
                byte[] c = new byte[cs];
                readCluster(start, entry, bitmap, 0, c, 0, cs);
                System.arraycopy(buf, off, c, co, n);
                storage.write(newHost, c, 0, cs);
            }
            newBitmap = L2Entry.bitmap(oldAlloc | touched, zero & ~touched);
        }
        map.setEntry(t, l2i, newHost | L2Entry.COPIED, newBitmap);
        releaseOld(entry);
    }

    /**
     * Delayed copy-on-write of a shared cluster (journal only): the new cluster gets the guest's
     * bytes now; the rest is a copy descriptor that the checkpoint (or a replay) performs.
     */
    private void delayedCopyOnWrite(CachedTable t, int l2i, long entry, int co, byte[] buf, int off, int n)
            throws IOException {
        long src = L2Entry.hostOffset(entry);
        long newHost = refcounts.allocate(1);
        image.checkNotMetadata(newHost, cs);
        storage.write(newHost + co, buf, off, n);
        image.journalWriter().addCopy(newHost, src, co);
        image.journalWriter().addCopy(newHost + co + n, src + co + n, cs - co - n);
        // The guest's bytes must be durable before the mapping that exposes them.
        image.needDataBarrier();
        map.setEntry(t, l2i, newHost | L2Entry.COPIED, 0);
        image.writeback().release(src, 1);
        if (refcounts.get(src >>> clusterBits) == 0) {
            refcounts.reserveUntilCheckpoint(src >>> clusterBits);
        }
    }

    /** Reads see delayed copies before they are performed. */
    private void overlayDelayedCopies(long host, byte[] buf, int off, int len) throws IOException {
        var jw = image.journalWriter();
        if (jw == null) {
            return;
        }
        for (Copy c : jw.copiesInto(host, len)) {
            long from = Math.max(host, c.target());
            long to = Math.min(host + len, c.target() + c.length());
            storage.read(c.source() + (from - c.target()), buf, off + (int) (from - host), (int) (to - from));
        }
    }

    /**
     * Before a cluster with a pending copy is written in place: perform the copy now, and if a
     * committed transaction holds it, commit a revoke so a replay cannot redo it over newer bytes.
     */
    private void performDelayedCopies(long host) throws IOException {
        var jw = image.journalWriter();
        if (jw == null) {
            return;
        }
        List<Copy> copies = jw.copiesInto(host, cs);
        if (copies.isEmpty()) {
            return;
        }
        for (Copy c : copies) {
            byte[] b = new byte[(int) c.length()];
            storage.read(c.source(), b, 0, b.length);
            storage.write(c.target(), b, 0, b.length);
        }
        image.needDataBarrier();
        if (jw.dropCopiesInto(host, cs)) {
            image.writeback().flush();
        }
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
        readCluster(start, entry, bitmap, from, c, 0, to - from);
        System.arraycopy(buf, off, c, co - from, n);
        storage.write(host + from, c, 0, c.length);
    }

    static int subclusterMask(int s0, int s1) {
        long m = ((1L << (s1 + 1)) - 1) & ~((1L << s0) - 1);
        return (int) m;
    }

    void releaseOld(long entry) throws IOException {
        if (L2Entry.isCompressed(entry)) {
            long host = L2Entry.compressedHostOffset(entry, clusterBits);
            long from = (host & ~511L) >>> clusterBits;
            long to = ((host & ~511L) + (long) L2Entry.compressedSectors(entry, clusterBits) * 512 - 1) >>> clusterBits;
            image.writeback().release(from << clusterBits, to - from + 1);
        } else if (L2Entry.hostOffset(entry) != 0) {
            image.writeback().release(L2Entry.hostOffset(entry), 1);
        }
    }

    // ---- zeroes, discard, status (ZeroesAndDiscard, ClusterStatus) and preallocation ----

    void writeZeroes(long offset, long len) throws IOException {
        zeroes.writeZeroes(offset, len);
    }

    void writeCompressed(long offset, byte[] cluster) throws IOException {
        compressedClusters.write(offset, cluster);
    }

    void discard(long offset, long len) throws IOException {
        zeroes.discard(offset, len);
    }

    BlockStatus blockStatus(long offset, long maxLen) throws IOException {
        return status.blockStatus(offset, maxLen);
    }

    /** preallocation=metadata: every cluster gets an L2 entry and a host cluster, contiguous. */
    void preallocate() throws IOException {
        long size = image.size();
        int perTable = map.l2Entries();
        long tableSpan = (long) perTable << clusterBits;
        long lastEnd = 0;
        for (long base = 0; base < size; base += tableSpan) {
            CachedTable t = tableForWrite(base);
            int n = (int) Math.min(perTable, (size - base + cs - 1) >>> clusterBits);
            long host = refcounts.allocate(n);
            for (int i = 0; i < n; i++) {
                long bitmap = ext ? L2Entry.bitmap(-1, 0) : 0;
                map.setEntry(t, i, (host + ((long) i << clusterBits)) | L2Entry.COPIED, bitmap);
            }
            lastEnd = Math.max(lastEnd, host + ((long) n << clusterBits));
            image.writeback().writebackIfCacheFull();
            image.writeback().commitIfTransactionFull();
        }
        if (storage.size() < lastEnd) {
            storage.truncate(lastEnd);
        }
    }

    static boolean isV3(Header h) {
        return h.version() >= 3;
    }
}
