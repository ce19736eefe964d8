package io.qjournal.qcow2;

import io.qjournal.qcow2.cluster.ImageState;
import io.qjournal.qcow2.journal.JournalMetadataWriter;
import io.qjournal.qcow2.journal.format.JournalExtension;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.table.ClusterMap;
import java.io.IOException;

/**
 * Direct access to an open image's metadata for offline maintenance (dedup-compaction). Holds
 * the image's write lock from {@link #begin} to {@link #close}, so no commit timer or other
 * thread can commit a half-done change. The caller changes L2 entries and refcounts in the
 * caches and calls {@link #commit} only at consistent points: with a live journal every commit
 * is one atomic transaction.
 */
public final class Maintenance implements AutoCloseable {
    private final Qcow2Image image;
    private final ImageState state;
    private boolean open = true;

    private Maintenance(Qcow2Image image) {
        this.image = image;
        this.state = image.state();
    }

    /**
     * Takes the image's write lock. A read-only image allows the read accessors only (a dry
     * run): its storage is the replayed view when the journal was dirty.
     */
    public static Maintenance begin(Qcow2Image image) {
        image.lock().writeLock().lock();
        try {
            // Guest writes still writing their data outside the lock finish first.
            image.state().awaitDataWrites();
        } catch (java.io.IOException e) {
            image.lock().writeLock().unlock();
            throw new java.io.UncheckedIOException(e);
        }
        return new Maintenance(image);
    }

    public boolean writable() {
        return image.isWritable();
    }

    /** Bytes a file occupies on disk (st_blocks * 512, qemu-img's actual-size), or -1. */
    public static long allocatedBytes(java.nio.file.Path file) {
        return DiskUsage.allocatedBytes(file);
    }

    public ClusterMap map() {
        return state.map();
    }

    public RefcountManager refcounts() {
        return state.refcounts();
    }

    /** The image file itself: raw reads of data clusters, raw copies into free clusters. */
    public Storage storage() {
        return state.file();
    }

    public int clusterBits() {
        return state.clusterBits();
    }

    /** Where the live journal lies, or null without one (its clusters are freed at close). */
    public JournalExtension journalExtension() {
        return state.journalExtension();
    }

    public boolean journalled() {
        return state.journalWriter() != null;
    }

    /**
     * Drops one reference to each cluster of the range. With a journal the free is in the open
     * transaction and the clusters are not reused before it commits; without one the free
     * waits for the flush that makes the dropped references durable.
     */
    public void release(long hostOffset, long count) throws IOException {
        image.writeback().release(hostOffset, count);
    }

    /**
     * Moves a refcount block to {@code to} (allocated by the caller) and frees its old cluster,
     * all in the open transaction.
     */
    public void moveRefcountBlock(long from, long to) throws IOException {
        state.refcounts().moveBlock(from, to);
        image.writeback().release(from, 1);
    }

    /** Adds a dedup index entry to the open transaction (ignored without a journal). */
    public void dedupEntry(boolean insert, byte[] sha256, long hostOffset) {
        JournalMetadataWriter jw = state.journalWriter();
        if (jw != null) {
            jw.addDedup(insert, sha256, hostOffset);
        }
    }

    /**
     * True when the open transaction should be committed before more changes join it: its
     * descriptors must fit in one journal block and its data in a small share of the ring.
     */
    public boolean transactionFull() {
        ClusterMap map = state.map();
        RefcountManager rc = state.refcounts();
        JournalMetadataWriter jw = state.journalWriter();
        if (jw == null) {
            return map.cacheOverfull() || rc.cacheOverfull();
        }
        return map.dirtyWrites() + rc.dirtyWrites() + jw.pendingEntries() + 8 >= jw.maxEntries() / 2
                || map.dirtyBytes() + rc.dirtyBytes() >= jw.dataBudget() / 2
                || map.cacheOverfull() || rc.cacheOverfull();
    }

    /**
     * Commits the cached changes. {@code dataFirst}: guest data written raw into the file since
     * the last commit (moved clusters) is made durable before the metadata that points at it.
     */
    public void commit(boolean dataFirst) throws IOException {
        if (dataFirst) {
            if (journalled()) {
                state.needDataBarrier();
            } else {
                // The direct writer flushes only between its stages, not before the first.
                state.file().flush();
            }
        }
        image.writeback().flush();
    }

    /** True while the caches hold changes no commit has taken yet. */
    public boolean uncommitted() {
        JournalMetadataWriter jw = state.journalWriter();
        return state.map().hasDirty() || state.refcounts().hasDirty() || (jw != null && jw.hasPending());
    }

    /**
     * Gives up after an error in the middle of a step: the caches may hold half of it, so
     * nothing more is written (close does not commit); the next open replays the journal up to
     * the last commit, which was consistent.
     */
    public void abandon(Exception cause) {
        state.failStop(cause);
    }

    /** The clean close cuts the file after the last cluster in use (refcount > 0). */
    public void truncateOnClose() {
        image.truncateOnClose();
    }

    @Override
    public void close() {
        if (open) {
            open = false;
            image.lock().writeLock().unlock();
        }
    }
}
