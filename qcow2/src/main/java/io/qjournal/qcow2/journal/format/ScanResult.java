package io.qjournal.qcow2.journal.format;

import java.util.List;

/**
 * What a scan found.
 *
 * @param header         the header the scan started from
 * @param anchor         the last synced transaction (at the synced index), or null if the
 *                       journal is empty (synced index 0)
 * @param transactions   valid transactions after the synced one, in chain order
 * @param committedCount how many of them, from the start, count as committed
 * @param endIndex       ring block where the chain ended
 * @param endSeq         sequence number that was expected there
 * @param endReason      why the block there does not continue the chain
 */
public record ScanResult(JournalHeader header, Transaction anchor, List<Transaction> transactions,
                         int committedCount, int endIndex, int endSeq, String endReason) {
    public ScanResult {
        transactions = List.copyOf(transactions);
    }

    /** The transactions a replay applies. */
    public List<Transaction> committed() {
        return transactions.subList(0, committedCount);
    }

    /** Valid but uncommitted transactions, which a recovery discards. */
    public List<Transaction> discarded() {
        return transactions.subList(committedCount, transactions.size());
    }

    /**
     * True when the header says more transactions are committed than the chain holds: they were
     * durable before the commit was recorded, so their loss means corruption, not a crash. (With
     * durable commit the header may trail the chain, but it must never lead it.)
     */
    public boolean committedMissing() {
        return Seq.distance(header.syncedSeq(), header.committedSeq()) > transactions.size();
    }

    /** Sequence number of the last valid transaction, or the synced one if there is none. */
    public int lastSeq() {
        return transactions.isEmpty() ? header.syncedSeq() : transactions.get(transactions.size() - 1).seq();
    }
}
