package io.qjournal.qcow2.journal;

import io.qjournal.qcow2.journal.format.Journal;
import io.qjournal.qcow2.journal.format.JournalFullException;
import io.qjournal.qcow2.journal.format.TransactionBuilder;
import io.qjournal.qcow2.meta.DirectMetadataWriter;
import io.qjournal.qcow2.meta.MetaWrite;
import io.qjournal.qcow2.meta.MetadataWriter;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Metadata through the journal: all stages of one call become one transaction, durable with a
 * single flush (durable commit), and reach their home locations later at a checkpoint.
 *
 * <p>Ordering rule for guest data (docs/format/journal.md, "Ordering of guest data"): a
 * transaction may become durable in the same flush as the data its new L2 entries point to
 * only when losing that data cannot expose wrong bytes: the data went to a cluster taken from
 * never-written space past the end of the file whose previous contents read as zeros. Every
 * other metadata-changing write calls {@link #requireDataBarrier()}, and the commit then
 * flushes the data first (two flushes, as QEMU).
 */
public final class JournalMetadataWriter implements MetadataWriter {
    private final Storage storage;
    private final Journal journal;
    private final boolean durableCommit;
    /** Home writes of committed, unsynced transactions, in commit order. */
    private final List<MetaWrite> unsynced = new ArrayList<>();
    private final NextTransaction next = new NextTransaction();
    private final DelayedCopies copies = new DelayedCopies();
    /** Guest data travelling in transactions (small writes into fresh clusters). */
    private final JournalledData data = new JournalledData();
    /**
     * Guest data written since the last commit, and during the transaction before (see
     * GuestData); unknown (the maximum) before the first commit, so the first transaction
     * journals no data.
     */
    private long openTxDataBytes;
    private long previousTxDataBytes = Long.MAX_VALUE;
    private Runnable onCheckpoint = () -> { };
    private boolean dataBarrier;
    /** Transactions appended since the last checkpoint. */
    private int live;
    private long commits;
    /** End of the highest unsynced metadata write (the file may not reach it until the checkpoint). */
    private long unsyncedEnd;
    private long checkpoints;

    public JournalMetadataWriter(Storage storage, Journal journal) {
        this.storage = storage;
        this.journal = journal;
        this.durableCommit = journal.header().durableCommit();
    }

    public Journal journal() {
        return journal;
    }

    /** Called after every checkpoint (copy sources may be reused from then on). */
    public void onCheckpoint(Runnable r) {
        onCheckpoint = r;
    }

    /**
     * Records a delayed copy (copy descriptor): {@code length} bytes at {@code source} belong at
     * {@code target}; replay and the next checkpoint perform it, reads see it through
     * {@link #copiesInto}.
     */
    public void addCopy(long target, long source, long length) {
        if (length > 0) {
            copies.add(new Copy(target, source, length));
        }
    }

    /** Copies (pending or committed, not yet performed) whose target overlaps the range. */
    public List<Copy> copiesInto(long offset, long length) {
        return copies.into(offset, length);
    }

    /**
     * Forgets the copies into a range (the caller performed them, or the range was freed).
     * Returns true when one of them is already committed: then the next transaction must carry
     * a revoke so that a replay cannot perform it over newer bytes.
     */
    public boolean dropCopiesInto(long offset, long length) {
        boolean committed = copies.drop(offset, length);
        if (committed) {
            next.revoke(offset, length);
        }
        return committed;
    }

    /** The next commit must make earlier guest data durable before its transaction. */
    public void requireDataBarrier() {
        dataBarrier = true;
    }

    /**
     * A cluster range was freed: earlier journalled writes to it must never be replayed or
     * written home, since the range may be reused for guest data before they are synced.
     */
    public void freed(long offset, long length) {
        boolean overlaps = false;
        for (java.util.ListIterator<MetaWrite> it = unsynced.listIterator(); it.hasNext();) {
            MetaWrite w = it.next();
            long ws = w.offset();
            long we = ws + w.data().length;
            if (ws < offset + length && offset < we) {
                // Keep what lies outside the freed range (a coalesced write spans several tables).
                it.remove();
                if (ws < offset) {
                    it.add(new MetaWrite(ws, java.util.Arrays.copyOfRange(w.data(), 0, (int) (offset - ws))));
                }
                if (we > offset + length) {
                    it.add(new MetaWrite(offset + length, java.util.Arrays.copyOfRange(w.data(),
                            (int) (offset + length - ws), w.data().length)));
                }
                overlaps = true;
            }
        }
        if (data.drop(offset, length)) {
            overlaps = true;
        }
        if (overlaps) {
            next.revoke(offset, length);
        }
        dropCopiesInto(offset, length);
    }

    @Override
    public void writeStages(List<List<MetaWrite>> stages) throws IOException {
        // Transactions without guest data (the journal's creation, discards) say nothing about
        // how many writes share a flush.
        if (openTxDataBytes > 0) {
            previousTxDataBytes = openTxDataBytes;
            openTxDataBytes = 0;
        }
        TransactionBuilder tx = new TransactionBuilder();
        List<MetaWrite> writes = new ArrayList<>();
        next.addRevokesTo(tx);
        for (Copy c : copies.pending()) {
            tx.addCopy(c.target(), c.source(), c.length());
        }
        next.addDedupTo(tx);
        for (List<MetaWrite> stage : stages) {
            writes.addAll(stage);
        }
        writes = coalesce(writes);
        for (JournalledData.Entry d : data.pending()) {
            tx.addWrite(d.offset(), d.data());
        }
        for (MetaWrite w : writes) {
            tx.addWrite(w.offset(), w.data());
        }
        if (tx.isEmpty()) {
            flushData();
            return;
        }
        if (journal.blocksNeeded(tx) < 0) {
            // Larger than the whole ring: sync everything, then fall back to ordered writes.
            checkpoint();
            writeHome(data.pending());
            data.clear(data.pending());
            copies.performPending(storage);
            storage.flush();
            new DirectMetadataWriter(storage).writeStages(stages);
            // The index is advisory: entries that found no transaction are simply not recorded.
            next.clear();
            dataBarrier = false;
            return;
        }
        if (dataBarrier) {
            storage.flush();
        }
        int seq;
        try {
            seq = journal.append(tx);
        } catch (JournalFullException e) {
            checkpoint();
            seq = journal.append(tx);
        }
        storage.flush();
        if (!durableCommit) {
            journal.markCommitted(seq);
            storage.flush();
        }
        commits++;
        live++;
        dataBarrier = false;
        next.clear();
        copies.pendingCommitted();
        unsynced.addAll(writes);
        for (MetaWrite w : writes) {
            unsyncedEnd = Math.max(unsyncedEnd, w.offset() + w.data().length);
        }
        data.pendingCommitted();
        if (journal.freeBytes() < journal.layout().size() / 4) {
            checkpoint();
        }
    }

    /**
     * Joins writes that touch: the descriptors of one transaction must fit in one journal
     * block, and new tables allocated together are usually contiguous. Order only matters for
     * overlapping writes, so when any overlap the list is left as it is.
     */
    static List<MetaWrite> coalesce(List<MetaWrite> writes) {
        if (writes.size() < 2) {
            return writes;
        }
        List<MetaWrite> sorted = new ArrayList<>(writes);
        sorted.sort(java.util.Comparator.comparingLong(MetaWrite::offset));
        for (int i = 1; i < sorted.size(); i++) {
            MetaWrite a = sorted.get(i - 1);
            if (a.offset() + a.data().length > sorted.get(i).offset()) {
                return writes;
            }
        }
        List<MetaWrite> out = new ArrayList<>();
        int i = 0;
        while (i < sorted.size()) {
            int j = i + 1;
            long end = sorted.get(i).offset() + sorted.get(i).data().length;
            while (j < sorted.size() && sorted.get(j).offset() == end) {
                end += sorted.get(j).data().length;
                j++;
            }
            if (j == i + 1) {
                out.add(sorted.get(i));
            } else {
                byte[] joined = new byte[(int) (end - sorted.get(i).offset())];
                int pos = 0;
                for (int k = i; k < j; k++) {
                    byte[] d = sorted.get(k).data();
                    System.arraycopy(d, 0, joined, pos, d.length);
                    pos += d.length;
                }
                out.add(new MetaWrite(sorted.get(i).offset(), joined));
            }
            i = j;
        }
        return out;
    }

    /** Writes every committed transaction home, flushes, and frees the ring. */
    public void checkpoint() throws IOException {
        if (live == 0) {
            return;
        }
        copies.performCommitted(storage);
        writeHome(data.committed());
        // An older write to exactly the span of a newer one is superseded; the rest go home in
        // commit order, so overlapping spans of different lengths end as the newest wrote them.
        java.util.Map<String, Integer> newest = new java.util.HashMap<>();
        for (int i = 0; i < unsynced.size(); i++) {
            MetaWrite w = unsynced.get(i);
            newest.put(w.offset() + "+" + w.data().length, i);
        }
        for (int i = 0; i < unsynced.size(); i++) {
            MetaWrite w = unsynced.get(i);
            if (newest.get(w.offset() + "+" + w.data().length) == i) {
                storage.write(w.offset(), w.data(), 0, w.data().length);
            }
        }
        storage.flush();
        journal.checkpointed(journal.lastSeq());
        unsynced.clear();
        unsyncedEnd = 0;
        data.clear(data.committed());
        live = 0;
        checkpoints++;
        onCheckpoint.run();
    }

    @Override
    public long unsyncedEnd() {
        return unsyncedEnd;
    }

    @Override
    public void overlayUnsynced(long offset, byte[] data) {
        long end = offset + data.length;
        for (MetaWrite w : unsynced) {
            long ws = w.offset();
            long we = ws + w.data().length;
            if (ws < end && offset < we) {
                long from = Math.max(ws, offset);
                long to = Math.min(we, end);
                System.arraycopy(w.data(), (int) (from - ws), data, (int) (from - offset), (int) (to - from));
            }
        }
    }

    private void writeHome(List<JournalledData.Entry> entries) throws IOException {
        for (JournalledData.Entry d : entries) {
            storage.write(d.offset(), d.data(), 0, d.data().length);
        }
    }

    /**
     * Guest data that goes into the next transaction instead of in place: the commit's checksum
     * covers it, so it needs no flush of its own (docs/format/journal.md, 15.4). Reads see it
     * through {@link #overlayData}; the checkpoint writes it home.
     */
    public void journalData(long offset, byte[] bytes) {
        data.add(offset, bytes);
    }

    /** True when some bytes of the host range live only in the journal (or its next transaction). */
    public boolean hasDataIn(long offset, long length) {
        return data.overlaps(offset, length);
    }

    /** Copies journalled guest bytes of the host range over {@code buf}. */
    public void overlayData(long offset, byte[] buf, int off, int len) {
        data.overlay(offset, buf, off, len);
    }

    /** Counts a guest data write of the open transaction, journalled or written in place. */
    public void noteDataWrite(int length) {
        openTxDataBytes += length;
    }

    /** Guest data bytes written during the last committed transaction that wrote any (journalled or in place). */
    public long previousTxDataBytes() {
        return previousTxDataBytes;
    }

    /** Bytes of guest data waiting for the next transaction. */
    public long pendingDataBytes() {
        return data.pendingBytes();
    }

    /** Most guest data one transaction should carry: a small share of the ring. */
    public long dataBudget() {
        return journal.layout().size() / 8;
    }

    /**
     * Descriptor entries one transaction can hold: all descriptors must fit in one journal
     * block (a write entry takes 16 bytes, a copy 20, a revoke 12; 24 bytes of block header
     * and a few descriptor headers).
     */
    public int maxEntries() {
        return (journal.layout().blockSize() - 24 - 3 * 4) / 20;
    }

    /**
     * Records a dedup index entry (descriptor type 4 or 5, docs/format/journal.md section 11) in
     * the next transaction, so it becomes durable atomically with the metadata that makes it true.
     */
    public void addDedup(boolean insert, byte[] sha256, long hostOffset) {
        next.dedup(insert, sha256, hostOffset);
    }

    /** Revokes, copies and dedup entries waiting for the next transaction (a dedup entry counts twice: 40 bytes). */
    public int pendingEntries() {
        return next.entries() + copies.pending().size() + data.pending().size();
    }

    /** Revokes, copies or dedup entries wait for a transaction even when no metadata is dirty. */
    public boolean hasPending() {
        return !next.isEmpty() || !copies.pending().isEmpty() || !data.pending().isEmpty();
    }

    public boolean hasUnsynced() {
        return live > 0;
    }

    /** Committed transactions not yet checkpointed. */
    public int unsyncedTransactions() {
        return live;
    }

    public long commits() {
        return commits;
    }

    public long checkpoints() {
        return checkpoints;
    }

    @Override
    public boolean atomic() {
        return true;
    }

    @Override
    public void flushData() throws IOException {
        storage.flush();
        dataBarrier = false;
    }
}
