package io.qjournal.qcow2;

/**
 * The journal state `info` shows.
 *
 * @param present the image carries a journal extension
 * @param valid its "journal valid" autoclear bit is set (no other program invalidated it)
 * @param dirty the "journal dirty" bit is set: a replay is needed before QEMU may open it
 * @param offset host offset of the journal area
 * @param size journal size in bytes
 * @param blockSize journal block size
 * @param syncedSeq last synced sequence number
 * @param committedSeq last committed sequence number in the header (may trail with durable commit)
 * @param usedBytes ring bytes holding unsynced transactions
 * @param pendingTransactions committed transactions a replay would apply, read from a closed
 *     journal (what an open found before replaying it); -1 for a live journal or when unknown
 */
public record JournalStatus(boolean present, boolean valid, boolean dirty, long offset, long size, int blockSize,
        long syncedSeq, long committedSeq, long usedBytes, int pendingTransactions) {
    public static final JournalStatus NONE = new JournalStatus(false, false, false, 0, 0, 0, 0, 0, 0, 0);
}
