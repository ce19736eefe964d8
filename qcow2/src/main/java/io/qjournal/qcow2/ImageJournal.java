package io.qjournal.qcow2;

import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.journal.Journal;
import io.qjournal.qcow2.journal.JournalExtension;
import io.qjournal.qcow2.meta.DirectMetadataWriter;
import io.qjournal.qcow2.meta.JournalMetadataWriter;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.time.Duration;

/**
 * One image's journal through its life: deferred until the first write, created, attached
 * after a replay, removed at a clean close so that QEMU sees a plain image, and the commit
 * timer that runs while it lives. Every method runs under the image's write lock.
 */
final class ImageJournal {
    private final Qcow2Image img;
    private final Storage storage;
    private final CommitTimer timer;
    private JournalExtension ext;
    private JournalOptions options;
    private JournalMetadataWriter writer;
    /** Options of a journal that the first write creates. */
    private JournalOptions deferred;

    ImageJournal(Qcow2Image img, Storage storage) {
        this.img = img;
        this.storage = storage;
        this.timer = new CommitTimer("qjournal-commit " + storage.name());
    }

    /** The live journal's writer, or null. */
    JournalMetadataWriter writer() {
        return writer;
    }

    /** The live journal's place in the file, or null. */
    JournalExtension extension() {
        return ext;
    }

    /** The live journal's options, or null (not the deferred ones: they commit nothing yet). */
    JournalOptions liveOptions() {
        return options;
    }

    /** The options, live or deferred; null without a journal. */
    JournalOptions options() {
        return options != null ? options : deferred;
    }

    /** Whether the image runs with a journal (live, or created by its first write). */
    boolean enabled() {
        return writer != null || deferred != null;
    }

    void defer(JournalOptions jo) {
        deferred = jo;
    }

    /** Creates the deferred journal, if any. */
    void startDeferred() throws IOException {
        JournalOptions jo = deferred;
        if (jo != null) {
            deferred = null;
            create(jo, false);
        }
    }

    void create(JournalOptions jo, boolean atEnd) throws IOException {
        if (img.header().version() < 3) {
            throw new Qcow2Exception(storage.name(), "the journal needs a compat=1.1 (version 3) image");
        }
        int clusterSize = img.clusterSize();
        long size = (jo.size + clusterSize - 1) / clusterSize * clusterSize;
        int order = Math.min(Integer.numberOfTrailingZeros(jo.blockSize), img.clusterBits());
        long clusters = size / clusterSize;
        // Power may fail at any point of the creation; every state must open cleanly. QEMU's
        // dirty bit goes first: from then on the journal's clusters may be counted on disk
        // before the header names them, a leak that every writable open (ours and QEMU's)
        // repairs at once. The header that names the journal clears the bit again.
        img.writeback().writeHeader(withDirty(img.header(), true));
        long offset = atEnd ? img.refcounts().allocateAtEnd((int) clusters)
                : img.refcounts().allocate((int) clusters);
        // Refcounts durable before anything points at the clusters (QEMU's order). A refcount
        // table that moved frees its old clusters at the flush after the one that wrote the new
        // table: both before the header clears the dirty bit, so nothing is left leaked.
        img.writeback().flush();
        if (img.refcounts().hasDirty()) {
            img.writeback().flush();
        }
        Journal j = JournalSupport.format(storage, offset, size, order, jo);
        JournalExtension e = new JournalExtension(offset, size);
        // The allocation may have moved the refcount table: the header as it is now, not as it was.
        img.writeback().writeHeader(JournalSupport.withJournal(withDirty(img.header(), false), e));
        attach(j, e, jo);
    }

    void attach(Journal j, JournalExtension e, JournalOptions jo) {
        ext = e;
        options = jo;
        writer = new JournalMetadataWriter(storage, j);
        writer.onCheckpoint(img.refcounts()::clearCopyReservations);
        img.writeback().use(writer);
        img.map().setReadOverlay(writer);
        img.refcounts().setReadOverlay(writer);
        startTimer();
    }

    /**
     * Clean close, and the end of a replay that keeps no journal: every transaction is written
     * home and synced; then the header stops naming the journal (with QEMU's dirty bit set),
     * then the journal's clusters are freed, then the dirty bit is cleared. A power loss after
     * the header's rewrite leaves at worst the journal's clusters counted and unnamed, which
     * the dirty bit has every writable open repair; QEMU then sees a plain image.
     */
    void remove() throws IOException {
        stopTimer();
        img.writeback().flush();
        writer.checkpoint();
        writer = null;
        options = null;
        img.writeback().use(new DirectMetadataWriter(storage));
        img.writeback().writeHeader(withDirty(JournalSupport.withoutJournal(img.header()), true));
        img.refcounts().update(ext.offset(), ext.clusters(img.clusterSize()), -1);
        img.writeback().flush();
        img.writeback().writeHeader(withDirty(img.header(), false));
        ext = null;
    }

    private static Header withDirty(Header h, boolean dirty) {
        Header.Builder b = h.toBuilder();
        b.set(Feature.DIRTY, dirty);
        return b.build();
    }

    /** Another program invalidated the journal: forget it, never touch its old clusters. */
    void dropInvalid() throws IOException {
        img.writeback().writeHeader(JournalSupport.withoutJournal(img.header()));
    }

    void setCommitInterval(Duration interval) {
        if (options != null) {
            options.commitInterval(interval);
            startTimer();
        } else if (deferred != null) {
            deferred.commitInterval(interval);
        }
    }

    void setCommitDatasize(long bytes) {
        JournalOptions jo = options();
        if (jo != null) {
            jo.commitDatasize(bytes);
        }
    }

    private void startTimer() {
        timer.start(options == null ? Duration.ZERO : options.commitInterval, img::timedCommit);
    }

    void stopTimer() {
        timer.stop();
    }
}
