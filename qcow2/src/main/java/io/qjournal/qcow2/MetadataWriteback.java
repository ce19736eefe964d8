package io.qjournal.qcow2;

import io.qjournal.qcow2.cluster.ImageState;
import io.qjournal.qcow2.cluster.Writeback;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.journal.JournalMetadataWriter;
import io.qjournal.qcow2.meta.DirectMetadataWriter;
import io.qjournal.qcow2.meta.MetaWrite;
import io.qjournal.qcow2.meta.MetadataWriter;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.table.ClusterMap;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Write-back of the cached metadata, in dependency order: refcount blocks, refcount table
 * entries, L2 tables, L1 entries, each stage durable before the next unless the writer is the
 * journal's (one atomic transaction). Also decides when to write back: a cache over its bound,
 * a transaction near the journal format's limit, or the commit triggers. Every method runs
 * under the image's write lock.
 */
final class MetadataWriteback implements Writeback {
    private final ImageState state;
    private final ClusterMap map;
    private final RefcountManager refcounts;
    private final int clusterBits;
    /** Where metadata goes: the journal's writer while one lives, else straight home. */
    private MetadataWriter writer;
    /** Clusters whose references are gone from cached metadata but maybe not yet from disk. */
    private final List<Free> deferredFrees = new ArrayList<>();
    private volatile long lastCommitNanos = System.nanoTime();

    MetadataWriteback(ImageState state) {
        this.state = state;
        this.map = state.map();
        this.refcounts = state.refcounts();
        this.clusterBits = state.clusterBits();
        this.writer = new DirectMetadataWriter(state.file());
    }

    MetadataWriter writer() {
        return writer;
    }

    @Override
    public void use(MetadataWriter w) {
        writer = w;
    }

    /** Drops a reference to clusters: at once when the writer is atomic, else after the next flush. */
    @Override
    public void release(long hostOffset, long count) throws IOException {
        if (writer.atomic()) {
            refcounts.update(hostOffset, count, -1);
            long first = hostOffset >>> clusterBits;
            for (long c = first; c < first + count; c++) {
                if (refcounts.get(c) == 0) {
                    refcounts.reserve(c);
                    state.journalWriter().freed(c << clusterBits, 1 << clusterBits);
                }
            }
        } else {
            deferredFrees.add(new Free(hostOffset, count));
        }
    }

    /**
     * Between clusters of one guest request: commits when the open transaction nears what one
     * journal block of descriptors can describe, so no transaction ever outgrows the journal's
     * format (small blocks with 512-byte clusters hold about 23 entries).
     */
    @Override
    public void commitIfTransactionFull() throws IOException {
        JournalMetadataWriter jw = state.journalWriter();
        if (jw != null && (map.dirtyWrites() + refcounts.dirtyWrites() + jw.pendingEntries() + 4 >= jw.maxEntries() / 2
                || jw.pendingDataBytes() >= jw.dataBudget())) {
            flush();
        }
    }

    /** Writes metadata back when a cache is over its bound or a commit trigger has fired. */
    @Override
    public void writebackIfCacheFull() throws IOException {
        if (map.cacheOverfull() || refcounts.cacheOverfull()) {
            flush();
            return;
        }
        JournalOptions jo = state.journalOptions();
        JournalMetadataWriter jw = state.journalWriter();
        long journalled = jw == null ? 0 : jw.pendingDataBytes();
        if (jo != null && (map.dirtyBytes() + refcounts.dirtyBytes() + journalled >= jo.commitDatasize
                || System.nanoTime() - lastCommitNanos >= jo.commitInterval.toNanos())) {
            flush();
        }
    }

    /** Everything cached goes to disk (a journal commit with a journal); then deferred frees apply. */
    @Override
    public void flush() throws IOException {
        state.awaitDataWrites();
        List<List<MetaWrite>> stages = collectStages();
        boolean any = state.journalWriter() != null && state.journalWriter().hasPending();
        for (List<MetaWrite> s : stages) {
            any |= !s.isEmpty();
        }
        try {
            if (any) {
                writer.writeStages(stages);
            } else {
                writer.flushData();
            }
        } catch (IOException | RuntimeException e) {
            // The collected metadata left the caches but may not be on disk: fail-stop. Nothing
            // more is written, and close leaves a journal (if any) for the next open to replay.
            state.failStop(e);
            throw e;
        }
        lastCommitNanos = System.nanoTime();
        if (writer.atomic()) {
            refcounts.clearReservations();
        }
        if (!deferredFrees.isEmpty()) {
            List<Free> frees = new ArrayList<>(deferredFrees);
            deferredFrees.clear();
            for (Free f : frees) {
                refcounts.update(f.hostOffset(), f.clusters(), -1);
            }
        }
    }

    private List<List<MetaWrite>> collectStages() {
        return List.of(refcounts.collectBlockWrites(), refcounts.collectTableWrites(), map.collectTableWrites(),
                map.collectL1Writes());
    }

    @Override
    public void writeHeader(Header nh) throws IOException {
        state.awaitDataWrites();
        writer.writeStages(List.of(List.of(new MetaWrite(0, HeaderCodec.encode(nh)))));
        state.header(nh);
    }

    /** The refcount table grew into new clusters: the header must name it, and the old one is freed. */
    void refcountTableMoved(long newOffset, int newClusters, List<MetaWrite> structures, long oldOffset,
            int oldClusters) throws IOException {
        Header.Builder b = state.header().toBuilder();
        b.refcountTableOffset = newOffset;
        b.refcountTableClusters = newClusters;
        Header nh = b.build();
        MetaWrite headerWrite = new MetaWrite(0, HeaderCodec.encode(nh));
        if (writer.atomic()) {
            // One transaction: pending metadata, the new structures, the header, the old table's free.
            release(oldOffset, oldClusters);
            refcounts.discardTableWrites();
            List<MetaWrite> all = new ArrayList<>(refcounts.collectBlockWrites());
            all.addAll(map.collectTableWrites());
            all.addAll(map.collectL1Writes());
            all.addAll(structures);
            all.add(headerWrite);
            writer.writeStages(List.of(all));
        } else {
            // From inside a refcount update: deferred frees wait for the next ordinary flush.
            state.awaitDataWrites();
            writer.writeStages(collectStages());
            writer.writeStages(List.of(structures, List.of(headerWrite)));
            release(oldOffset, oldClusters);
        }
        state.header(nh);
    }

    /**
     * The header's new virtual size; when the L1 table must grow to {@code needed} entries, the
     * new table (and the refcounts that account for it) is durable before the header names it.
     */
    void writeSize(long newSize, int needed) throws IOException {
        int cs = 1 << clusterBits;
        Header h = state.header();
        Header.Builder b = h.toBuilder();
        b.size = newSize;
        if (needed > map.l1Size()) {
            flush();
            long[] l1 = new long[needed];
            System.arraycopy(map.l1Copy(), 0, l1, 0, map.l1Size());
            int l1Clusters = (int) ((needed * 8L + cs - 1) / cs);
            long newOffset = refcounts.allocate(l1Clusters);
            ByteBuffer buf = ByteBuffer.allocate(l1Clusters * cs);
            for (long e : l1) {
                buf.putLong(e);
            }
            long oldOffset = map.l1Offset();
            int oldClusters = (int) ((map.l1Size() * 8L + cs - 1) / cs);
            b.l1Size = needed;
            b.l1TableOffset = newOffset;
            Header nh = b.build();
            if (oldOffset != 0 && h.l1Size() > 0) {
                // Journal: the free goes into the same transaction as the switch; direct
                // writes: it waits for the header to be durable (deferred).
                release(oldOffset, oldClusters);
            }
            // New L1 (and the refcounts that account for it) durable before the header.
            writer.writeStages(List.of(refcounts.collectBlockWrites(), refcounts.collectTableWrites(),
                    List.of(new MetaWrite(newOffset, buf.array())),
                    List.of(new MetaWrite(0, HeaderCodec.encode(nh)))));
            state.header(nh);
            map.replaceL1(newOffset, l1);
        } else {
            Header nh = b.build();
            writeHeader(nh);
        }
    }

    /** {@code clusters} clusters from {@code hostOffset} whose reference a flush will drop. */
    private record Free(long hostOffset, long clusters) {
    }
}
