package io.qjournal.qcow2.journal;

import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.JournalStatus;
import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.cluster.ImageState;
import io.qjournal.qcow2.cluster.Writeback;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.journal.format.Journal;
import io.qjournal.qcow2.journal.format.JournalExtension;
import io.qjournal.qcow2.journal.format.JournalHeader;
import io.qjournal.qcow2.journal.format.ScanResult;
import io.qjournal.qcow2.journal.format.Transaction;
import io.qjournal.qcow2.meta.DirectMetadataWriter;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * One image's journal through its life: deferred until the first write, created, attached
 * after a replay, removed at a clean close so that QEMU sees a plain image, and the commit
 * timer that runs while it lives. Every method runs under the image's write lock.
 */
public final class ImageJournal {
    private final ImageState state;
    private final Writeback writeback;
    private final Storage storage;
    private final CommitTimer timer;
    private final Runnable tick;
    /** Options of a journal that the first write creates. */
    private JournalOptions deferred;

    /** {@code tick}: the commit interval's timed commit. */
    public ImageJournal(ImageState state, Runnable tick) {
        this.state = state;
        this.writeback = state.writeback();
        this.storage = state.file();
        this.tick = tick;
        this.timer = new CommitTimer("qjournal-commit " + storage.name());
    }

    /** The live journal's writer, or null. */
    public JournalMetadataWriter writer() {
        return state.journalWriter();
    }

    /** The live journal's place in the file, or null. */
    public JournalExtension extension() {
        return state.journalExtension();
    }

    /** The options, live or deferred; null without a journal. */
    public JournalOptions options() {
        JournalOptions live = state.journalOptions();
        return live != null ? live : deferred;
    }

    /** Whether the image runs with a journal (live, or created by its first write). */
    public boolean enabled() {
        return writer() != null || deferred != null;
    }

    /**
     * At a writable open, after any replay ({@code ext}, {@code valid} and {@code recovered}
     * say what it found): drops an invalid journal, keeps a replayed one when the caller wants
     * a journal ({@code wanted}) and removes it otherwise, and creates the wanted one now
     * ({@code atEnd}) or at the first write.
     */
    public void openForWrites(JournalExtension ext, boolean valid, Journal recovered, JournalOptions wanted,
            boolean atEnd) throws IOException {
        Header header = state.header();
        boolean bitsWithoutJournal = ext == null
                && (header.has(Feature.JOURNAL_DIRTY) || header.has(Feature.JOURNAL_VALID));
        if ((ext != null && !valid) || bitsWithoutJournal) {
            // Invalidated by another program, or a journal whose creation a crash tore (its
            // bits landed, its extension did not: nothing was ever journalled into it).
            dropInvalid();
        } else if (recovered != null && wanted != null) {
            attach(recovered, ext, wanted);
        } else if (recovered != null) {
            attach(recovered, ext, JournalOptions.defaults());
            remove();
        }
        if (wanted != null && writer() == null) {
            if (atEnd) {
                // Maintenance (dedup-compaction) changes metadata without guest writes.
                create(wanted, true);
            } else {
                // Created at the first write: an image opened and never written (a daemon
                // serving a hundred mostly idle images) costs no journal area and no flushes.
                defer(wanted);
            }
        }
    }

    private void defer(JournalOptions jo) {
        deferred = jo;
    }

    /** Creates the deferred journal, if any. */
    public void startDeferred() throws IOException {
        JournalOptions jo = deferred;
        if (jo != null) {
            deferred = null;
            create(jo, false);
        }
    }

    public void create(JournalOptions jo, boolean atEnd) throws IOException {
        if (state.header().version() < 3) {
            throw new Qcow2Exception(storage.name(), "the journal needs a compat=1.1 (version 3) image");
        }
        int clusterSize = state.clusterSize();
        long size = (jo.size() + clusterSize - 1) / clusterSize * clusterSize;
        int order = Math.min(Integer.numberOfTrailingZeros(jo.blockSize()), state.clusterBits());
        long clusters = size / clusterSize;
        // Power may fail at any point of the creation; every state must open cleanly. QEMU's
        // dirty bit goes first: from then on the journal's clusters may be counted on disk
        // before the header names them, a leak that every writable open (ours and QEMU's)
        // repairs at once. The header that names the journal clears the bit again.
        writeback.writeHeader(withDirty(state.header(), true));
        long offset = atEnd ? state.refcounts().allocateAtEnd((int) clusters)
                : state.refcounts().allocate((int) clusters);
        // Refcounts durable before anything points at the clusters (QEMU's order). A refcount
        // table that moved frees its old clusters at the flush after the one that wrote the new
        // table: both before the header clears the dirty bit, so nothing is left leaked.
        writeback.flush();
        if (state.refcounts().hasDirty()) {
            writeback.flush();
        }
        Journal j = format(storage, offset, size, order, jo);
        JournalExtension e = new JournalExtension(offset, size);
        // The allocation may have moved the refcount table: the header as it is now, not as it was.
        writeback.writeHeader(withJournal(withDirty(state.header(), false), e));
        attach(j, e, jo);
    }

    private void attach(Journal j, JournalExtension e, JournalOptions jo) {
        JournalMetadataWriter writer = new JournalMetadataWriter(storage, j);
        writer.onCheckpoint(state.refcounts()::clearCopyReservations);
        state.journalAttached(writer, e, jo);
        writeback.use(writer);
        state.map().setReadOverlay(writer);
        state.refcounts().setReadOverlay(writer);
        startTimer();
    }

    /**
     * Clean close, and the end of a replay that keeps no journal: every transaction is written
     * home and synced; then the header stops naming the journal (with QEMU's dirty bit set),
     * then the journal's clusters are freed, then the dirty bit is cleared. A power loss after
     * the header's rewrite leaves at worst the journal's clusters counted and unnamed, which
     * the dirty bit has every writable open repair; QEMU then sees a plain image.
     */
    public void remove() throws IOException {
        stopTimer();
        writeback.flush();
        state.journalWriter().checkpoint();
        state.journalDetached();
        writeback.use(new DirectMetadataWriter(storage));
        writeback.writeHeader(withDirty(withoutJournal(state.header()), true));
        JournalExtension ext = state.journalExtension();
        state.refcounts().update(ext.offset(), ext.clusters(state.clusterSize()), -1);
        writeback.flush();
        writeback.writeHeader(withDirty(state.header(), false));
        state.journalRemoved();
    }

    private static Header withDirty(Header h, boolean dirty) {
        Header.Builder b = h.toBuilder();
        b.set(Feature.DIRTY, dirty);
        return b.build();
    }

    /** Another program invalidated the journal: forget it, never touch its old clusters. */
    private void dropInvalid() throws IOException {
        writeback.writeHeader(withoutJournal(state.header()));
    }

    public void setCommitInterval(Duration interval) {
        JournalOptions live = state.journalOptions();
        if (live != null) {
            live.commitInterval(interval);
            startTimer();
        } else if (deferred != null) {
            deferred.commitInterval(interval);
        }
    }

    public void setCommitDatasize(long bytes) {
        JournalOptions jo = options();
        if (jo != null) {
            jo.commitDatasize(bytes);
        }
    }

    private void startTimer() {
        JournalOptions live = state.journalOptions();
        timer.start(live == null ? Duration.ZERO : live.commitInterval(), tick);
    }

    public void stopTimer() {
        timer.stop();
    }

    /** The journal's state; {@code live} is the open journal when the image holds one. */
    public static JournalStatus status(Storage storage, Header h, JournalExtension ext, Journal live) {
        boolean valid = h.has(Feature.JOURNAL_VALID);
        boolean dirty = h.has(Feature.JOURNAL_DIRTY);
        try {
            Journal j = live != null ? live : Journal.open(storage, ext.offset(), ext.size(), h.clusterBits());
            JournalHeader jh = j.header();
            long used;
            int pending = -1;
            if (live != null) {
                used = (j.layout().blockCount() - j.freeBlocks()) << j.layout().blockOrder();
            } else {
                ScanResult scan = j.scan();
                long blocks = 0;
                for (Transaction t : scan.committed()) {
                    blocks += 1 + t.dataBlocks();
                }
                used = blocks << jh.blockOrder();
                pending = scan.committed().size();
            }
            return new JournalStatus(true, valid, dirty, ext.offset(), ext.size(), jh.blockSize(),
                    Integer.toUnsignedLong(jh.syncedSeq()), Integer.toUnsignedLong(jh.committedSeq()), used, pending);
        } catch (IOException | RuntimeException e) {
            return new JournalStatus(true, valid, dirty, ext.offset(), ext.size(), 0, 0, 0, 0, -1);
        }
    }

    private static Journal format(Storage storage, long offset, long size, int order, JournalOptions o) throws IOException {
        int flags = (o.crc32c() ? JournalHeader.FLAG_CRC32C : 0) | (o.durableCommit() ? JournalHeader.FLAG_DURABLE_COMMIT : 0);
        return Journal.format(storage, offset, size, order, flags, 1);
    }

    /** The header with the journal extension and both journal bits set. */
    private static Header withJournal(Header h, JournalExtension ext) {
        Header.Builder b = h.toBuilder();
        List<HeaderExtension> exts = new ArrayList<>();
        for (HeaderExtension e : h.extensions()) {
            if (e.type() != HeaderExtension.JOURNAL) {
                exts.add(e);
            }
        }
        exts.add(ext.toExtension());
        b.extensions = exts;
        b.set(Feature.JOURNAL_VALID, true);
        b.set(Feature.JOURNAL_DIRTY, true);
        return b.build();
    }

    /** The header with no journal: extension removed, both journal bits clear. */
    private static Header withoutJournal(Header h) {
        Header.Builder b = h.toBuilder();
        List<HeaderExtension> exts = new ArrayList<>();
        for (HeaderExtension e : h.extensions()) {
            if (e.type() != HeaderExtension.JOURNAL) {
                exts.add(e);
            }
        }
        b.extensions = exts;
        b.set(Feature.JOURNAL_VALID, false);
        b.set(Feature.JOURNAL_DIRTY, false);
        return b.build();
    }
}
