package io.qjournal.qcow2.journal;

import io.qjournal.qcow2.journal.format.TransactionBuilder;
import io.qjournal.qcow2.storage.Extent;
import java.util.ArrayList;
import java.util.List;

/**
 * Revokes and dedup index entries staged for the next transaction: they join it whether or not
 * any metadata is dirty, and are dropped with it.
 */
final class NextTransaction {
    /** Ranges whose earlier journalled writes or copies a replay must skip. */
    private final List<Extent> revokes = new ArrayList<>();
    private final List<DedupOp> dedup = new ArrayList<>();

    void revoke(long offset, long length) {
        revokes.add(new Extent(offset, length));
    }

    /**
     * Stages a dedup index entry (descriptor type 4 or 5, docs/format/journal.md section 11), so
     * it becomes durable atomically with the metadata that makes it true.
     */
    void dedup(boolean insert, byte[] sha256, long hostOffset) {
        if (sha256.length != 32 || hostOffset < 0) {
            throw new IllegalArgumentException("dedup entry needs a 32-byte hash and a host offset >= 0");
        }
        dedup.add(new DedupOp(insert, sha256.clone(), hostOffset));
    }

    void addRevokesTo(TransactionBuilder tx) {
        for (Extent r : revokes) {
            tx.addRevoke(r.offset(), r.length());
        }
    }

    void addDedupTo(TransactionBuilder tx) {
        for (DedupOp d : dedup) {
            if (d.insert()) {
                tx.addDedupInsert(d.sha256(), d.hostOffset());
            } else {
                tx.addDedupDelete(d.sha256(), d.hostOffset());
            }
        }
    }

    /** Descriptor entries staged (a dedup entry counts twice: 40 bytes). */
    int entries() {
        return revokes.size() + 2 * dedup.size();
    }

    boolean isEmpty() {
        return revokes.isEmpty() && dedup.isEmpty();
    }

    void clear() {
        revokes.clear();
        dedup.clear();
    }
}
