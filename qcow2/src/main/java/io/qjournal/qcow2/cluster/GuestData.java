package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.journal.JournalMetadataWriter;
import java.io.IOException;

/**
 * Where the bytes of a guest write go once their cluster is known: in place, inside the next
 * journal transaction, or (fresh clusters) after the image's lock is released. Runs under the
 * image's write lock.
 */
final class GuestData {
    /** Largest guest write that travels in the journal rather than in place. */
    static final int JOURNALLED_DATA_MAX = 64 << 10;

    private final ImageState state;
    /** Set for the duration of one guest write whose fresh data may wait for the lock's release. */
    private boolean deferring;

    GuestData(ImageState state) {
        this.state = state;
    }

    void deferFresh(boolean on) {
        deferring = on;
    }

    /**
     * Data for clusters just taken from never-written space past the end of the file. When the
     * caller allows it, the bytes are written after the image's lock is released (as QEMU
     * writes guest data outside its metadata lock): a write there can expose no other guest's
     * bytes, nothing else can be allocated at that place meanwhile, and every metadata write
     * (commit, writeback, checkpoint) first waits for such writes, so no L2 entry becomes
     * durable before the data it points at has been written.
     */
    void writeFresh(long host, WriteSource src, int from, int len) throws IOException {
        JournalMetadataWriter jw = state.journalWriter();
        if (deferring && !journalsData(jw, len) && (jw == null || !jw.hasDataIn(host, len))) {
            if (jw != null) {
                jw.noteDataWrite(len);
            }
            state.dataWrites().queue(new DeferredDataWrites.DeferredWrite(host, src, from, len));
            return;
        }
        write(host, src, from, len);
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
    void write(long host, WriteSource src, int from, int len) throws IOException {
        JournalMetadataWriter jw = state.journalWriter();
        if (jw != null) {
            jw.noteDataWrite(len);
        }
        if (journalsData(jw, len)) {
            byte[] b = new byte[len];
            src.copyTo(from, b, 0, len);
            jw.journalData(host, b);
            return;
        }
        src.writeTo(state.data(), host, from, len);
    }

    /**
     * Whether a guest write of {@code len} bytes travels in the open transaction. Only a few
     * writes per transaction: where a flush follows every write or two the journal saves a
     * costly filesystem commit per flush; where many writes share a flush that flush costs the
     * same either way, and journalled bytes are written twice. The previous transaction tells
     * which case holds: once it carried more guest data than one transaction may journal, the
     * next journals none, and the first transaction, with nothing to go by, journals none
     * either (journalling a quarter of each transaction's writes made many writes per flush
     * slower, not faster). Small journal blocks describe few writes per transaction: there
     * every journalled write would soon force a commit.
     */
    private boolean journalsData(JournalMetadataWriter jw, int len) {
        JournalOptions jo = state.journalOptions();
        return jw != null && jo != null && jo.journalData() && len <= JOURNALLED_DATA_MAX
                && jw.pendingDataBytes() + len <= JOURNALLED_DATA_MAX
                && jw.previousTxDataBytes() <= JOURNALLED_DATA_MAX
                && len <= jw.dataBudget() / 4 && jw.maxEntries() >= 128;
    }
}
