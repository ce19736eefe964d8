package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.journal.Copy;
import io.qjournal.qcow2.journal.JournalMetadataWriter;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;
import java.util.List;

/**
 * Copy-on-write through the journal (delayed copies): a shared cluster's new copy gets the
 * guest's bytes at once and the rest as a copy descriptor, which the checkpoint (or a replay)
 * performs; a later write in place performs it first. Runs under the image's write lock.
 */
final class DelayedCopyOnWrite {
    private final ImageState state;
    private final Storage storage;
    private final RefcountManager refcounts;
    private final int clusterBits;
    private final int cs;

    DelayedCopyOnWrite(ImageState state) {
        this.state = state;
        this.storage = state.data();
        this.refcounts = state.refcounts();
        this.clusterBits = state.clusterBits();
        this.cs = state.clusterSize();
    }

    /** Copies the shared cluster of entry {@code l2i} of {@code t}, with the guest's bytes at {@code co}. */
    void copy(CachedTable t, int l2i, long entry, int co, byte[] buf, int off, int n) throws IOException {
        JournalMetadataWriter jw = state.journalWriter();
        long src = L2Entry.hostOffset(entry);
        long newHost = refcounts.allocate(1);
        state.checkNotMetadata(newHost, cs);
        storage.write(newHost + co, buf, off, n);
        jw.addCopy(newHost, src, co);
        jw.addCopy(newHost + co + n, src + co + n, cs - co - n);
        // The guest's bytes must be durable before the mapping that exposes them.
        state.needDataBarrier();
        state.map().setEntry(t, l2i, newHost | L2Entry.COPIED, 0);
        state.writeback().release(src, 1);
        if (refcounts.get(src >>> clusterBits) == 0) {
            refcounts.reserveUntilCheckpoint(src >>> clusterBits);
        }
    }

    /**
     * Before a cluster with a pending copy is written in place: perform the copy now, and if a
     * committed transaction holds it, commit a revoke so a replay cannot redo it over newer bytes.
     */
    void performBeforeWrite(long host) throws IOException {
        JournalMetadataWriter jw = state.journalWriter();
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
        state.needDataBarrier();
        if (jw.dropCopiesInto(host, cs)) {
            state.writeback().flush();
        }
    }
}
