package io.qjournal.qcow2;

import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.journal.Journal;
import io.qjournal.qcow2.journal.JournalExtension;
import io.qjournal.qcow2.journal.JournalHeader;
import io.qjournal.qcow2.journal.ScanResult;
import io.qjournal.qcow2.journal.TargetValidator;
import io.qjournal.qcow2.journal.Transaction;
import io.qjournal.qcow2.meta.MetaWrite;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** Journal plumbing at the image level: header bits, the extension, status and replay. */
final class JournalSupport {
    private JournalSupport() {
    }

    static Journal format(Storage storage, long offset, long size, int order, JournalOptions o) throws IOException {
        int flags = (o.crc32c ? JournalHeader.FLAG_CRC32C : 0) | (o.durableCommit ? JournalHeader.FLAG_DURABLE_COMMIT : 0);
        return Journal.format(storage, offset, size, order, flags, 1);
    }

    /** Replays the committed transactions of a valid journal into {@code storage}. */
    static Journal recover(Storage storage, Header h, JournalExtension ext) throws IOException {
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
    static void repairAfterReplay(Storage storage, Header h, JournalExtension ext) throws IOException {
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

    /** The journal's state; {@code live} is the open journal when the image holds one. */
    static JournalStatus status(Storage storage, Header h, JournalExtension ext, Journal live) {
        boolean valid = h.has(Feature.JOURNAL_VALID);
        boolean dirty = h.has(Feature.JOURNAL_DIRTY);
        try {
            Journal j = live != null ? live : Journal.open(storage, ext.offset(), ext.size(), h.clusterBits());
            JournalHeader jh = j.header();
            long used;
            if (live != null) {
                used = (j.layout().blockCount() - j.freeBlocks()) << j.layout().blockOrder();
            } else {
                ScanResult scan = j.scan();
                long blocks = 0;
                for (Transaction t : scan.committed()) {
                    blocks += 1 + t.dataBlocks();
                }
                used = blocks << jh.blockOrder();
            }
            return new JournalStatus(true, valid, dirty, ext.offset(), ext.size(), jh.blockSize(),
                    Integer.toUnsignedLong(jh.syncedSeq()), Integer.toUnsignedLong(jh.committedSeq()), used);
        } catch (IOException | RuntimeException e) {
            return new JournalStatus(true, valid, dirty, ext.offset(), ext.size(), 0, 0, 0, 0);
        }
    }

    /** The header with the journal extension and both journal bits set. */
    static Header withJournal(Header h, JournalExtension ext) {
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
    static Header withoutJournal(Header h) {
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
