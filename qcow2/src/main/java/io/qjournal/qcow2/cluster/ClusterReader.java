package io.qjournal.qcow2.cluster;

import static io.qjournal.qcow2.cluster.Subclusters.DATA;
import static io.qjournal.qcow2.cluster.Subclusters.ZERO;

import io.qjournal.qcow2.BlockDevice;
import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.journal.Copy;
import io.qjournal.qcow2.journal.JournalMetadataWriter;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.storage.ZeroFill;
import io.qjournal.qcow2.table.ClusterMap;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Guest reads mapped through L1/L2: contiguous data clusters in one read, zeros, the backing
 * file, compressed clusters, and delayed copies seen before they are performed. Runs under
 * the image's read lock (the write lock when a write reads old contents to merge).
 */
public final class ClusterReader {
    private final ImageState state;
    private final Storage storage;
    private final ClusterMap map;
    private final int cs;
    private final boolean ext;
    private final int scSize;
    private final CompressedClusters compressed;

    public ClusterReader(ImageState state) {
        this.state = state;
        this.storage = state.data();
        this.map = state.map();
        this.cs = state.clusterSize();
        this.ext = state.extendedL2();
        this.scSize = state.subclusterSize();
        this.compressed = new CompressedClusters(state);
    }

    /** The cluster an L2 entry names, decompressed. */
    byte[] decompress(long entry) throws IOException {
        return compressed.decompress(entry);
    }

    public void read(long offset, byte[] buf, int off, int len) throws IOException {
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

    /**
     * Reads into a buffer (indices absolute within it): contiguous data clusters go straight
     * from the file into the buffer; the rest through a heap copy.
     */
    public void read(long offset, ByteBuffer dst, int off, int len) throws IOException {
        while (len > 0) {
            long start = offset & ~(long) (cs - 1);
            int co = (int) (offset - start);
            int n = Math.min(len, cs - co);
            CachedTable t = map.table(map.l1Index(start));
            long entry = t == null ? 0 : map.entry(t, map.l2Index(start));
            JournalMetadataWriter jw = state.journalWriter();
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
            } else if (!ext && state.backing() == null && (t == null || L2Entry.kind(entry) == L2Entry.Kind.UNALLOCATED
                    || L2Entry.kind(entry) == L2Entry.Kind.ZERO_PLAIN || L2Entry.kind(entry) == L2Entry.Kind.ZERO_ALLOC)) {
                if (t != null) {
                    map.validate(entry, 0, start);
                }
                ZeroFill.fill(dst, off, n);
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

    /** Reads [co, co+n) of the cluster at guest offset {@code start} as described by entry/bitmap. */
    void readCluster(long start, long entry, long bitmap, int co, byte[] buf, int off, int n) throws IOException {
        if (L2Entry.isCompressed(entry)) {
            System.arraycopy(compressed.decompress(entry), co, buf, off, n);
            return;
        }
        long host = L2Entry.hostOffset(entry);
        int pos = co;
        int end = co + n;
        while (pos < end) {
            int sc = pos / scSize;
            int st = Subclusters.state(ext, entry, bitmap, sc);
            int runEnd = Math.min(end, (sc + 1) * scSize);
            while (runEnd < end && Subclusters.state(ext, entry, bitmap, runEnd / scSize) == st) {
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
        BlockDevice b = state.backing();
        long avail = b == null ? 0 : Math.max(0, Math.min(len, b.size() - guest));
        if (avail > 0) {
            b.read(guest, buf, off, (int) avail);
        }
        Arrays.fill(buf, off + (int) avail, off + len, (byte) 0);
    }

    /** Reads see delayed copies before they are performed. */
    private void overlayDelayedCopies(long host, byte[] buf, int off, int len) throws IOException {
        JournalMetadataWriter jw = state.journalWriter();
        if (jw == null) {
            return;
        }
        for (Copy c : jw.copiesInto(host, len)) {
            long from = Math.max(host, c.target());
            long to = Math.min(host + len, c.target() + c.length());
            storage.read(c.source() + (from - c.target()), buf, off + (int) (from - host), (int) (to - from));
        }
    }
}
