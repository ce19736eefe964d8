package io.qjournal.qcow2.journal;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.journal.format.Journal;
import io.qjournal.qcow2.journal.format.JournalExtension;
import io.qjournal.qcow2.journal.format.TargetValidator;
import io.qjournal.qcow2.meta.MetaWrite;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.storage.Extent;
import io.qjournal.qcow2.storage.OverlayStorage;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.util.List;

/**
 * A valid journal's replay: at open (into the file, or into memory for a read-only open), and
 * for tools that read an image's structures directly (the checker), with the repairs a replay
 * may leave to do.
 */
public final class JournalRecovery {
    private JournalRecovery() {
    }

    /**
     * The storage as it is after replaying a valid journal: replayed in place when
     * {@code inPlace}, else into an in-memory overlay (the file stays untouched). Images
     * without a valid journal come back as they are.
     */
    public static Storage consistentView(Storage storage, boolean inPlace) throws IOException {
        Header h = HeaderCodec.read(storage);
        JournalExtension ext = JournalExtension.of(h, storage.name());
        if (ext == null || !h.has(Feature.JOURNAL_VALID)) {
            return storage;
        }
        Storage target = inPlace ? storage : new OverlayStorage(storage);
        recover(target, h, ext);
        Header after = HeaderCodec.read(target);
        repairAfterReplay(target, after, JournalExtension.of(after, target.name()));
        return target;
    }

    /** The journal's clusters, when the image has a valid journal. */
    public static List<Extent> journalRanges(Header h, String file) throws IOException {
        JournalExtension ext = JournalExtension.of(h, file);
        if (ext == null || !h.has(Feature.JOURNAL_VALID)) {
            return List.of();
        }
        return List.of(new Extent(ext.offset(), ext.clusters(h.clusterSize()) * h.clusterSize()));
    }

    /** Replays the committed transactions of a valid journal into {@code storage}. */
    public static Journal recover(Storage storage, Header h, JournalExtension ext) throws IOException {
        Journal j = Journal.open(storage, ext.offset(), ext.size(), h.clusterBits());
        String file = storage.name();
        TargetValidator validator = (offset, length) -> {
            if (offset < 0 || length < 0 || offset > HeaderCodec.MAX_OFFSET - length) {
                throw new Qcow2Exception(file, String.format(
                        "journal replay target 0x%x (+%d) lies outside the image", offset, length));
            }
            if (offset < ext.offset() + ext.size() && ext.offset() < offset + length) {
                throw new Qcow2Exception(file, String.format(
                        "journal replay target 0x%x (+%d) overlaps the journal itself", offset, length));
            }
        };
        j.recover(storage, validator);
        return j;
    }

    /**
     * After a replay: the journal's clusters are counted (journals written before their
     * refcounts were made durable at creation, and freed before the header dropped them at
     * removal, may lack the count; journal.md 15.2), and the file reaches the
     * end of every counted cluster (a fresh cluster's data write may have been lost; it reads as
     * zeros either way, and qemu-img check wants the file to cover it).
     */
    public static void repairAfterReplay(Storage storage, Header h, JournalExtension ext) throws IOException {
        int cs = h.clusterSize();
        RefcountManager rc = new RefcountManager(storage, storage.name(), h.clusterBits(), h.refcountOrder(),
                h.refcountTableOffset(), h.refcountTableClusters(), 1L << 20);
        long first = ext.offset() / cs;
        for (long c = first; c < first + ext.clusters(cs); c++) {
            if (rc.get(c) == 0) {
                rc.update(c * cs, 1, 1);
            }
        }
        boolean changed = false;
        for (MetaWrite w : rc.collectBlockWrites()) {
            storage.write(w.offset(), w.data(), 0, w.data().length);
            changed = true;
        }
        for (MetaWrite w : rc.collectTableWrites()) {
            storage.write(w.offset(), w.data(), 0, w.data().length);
            changed = true;
        }
        long end = (rc.highestUsedCluster() + 1) * cs;
        if (storage.size() < end) {
            storage.truncate(end);
            changed = true;
        }
        if (changed) {
            storage.flush();
        }
    }
}
