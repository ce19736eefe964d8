package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.storage.Storage;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A journal area inside an image file: format, open, scan, recover (replay), append, commit and
 * checkpoint. The on-disk format is described in docs/format/journal.md.
 *
 * <p>Life cycle for a writer: {@link #format} (or {@link #open} then {@link #recover}), then
 * repeatedly {@link #append} a transaction, flush the storage, {@link #markCommitted} (unless
 * the journal has {@link JournalHeader#FLAG_DURABLE_COMMIT}) and flush; write the committed
 * metadata to its home locations, flush, and {@link #checkpointed}. A journal that was only
 * opened is read-only: {@link #scan} and {@link JournalDump} work, appending does not.
 *
 * <p>Not thread-safe: the engine serializes all calls on one journal.
 */
public final class Journal {
    private final JournalLayout layout;
    private JournalHeader header;
    private JournalWriter writer;

    private Journal(JournalLayout layout, JournalHeader header) {
        this.layout = layout;
        this.header = header;
    }

    /** Formats with CRC-32C or the draft's byte sum and without durable commit. */
    public static Journal format(Storage storage, long offset, long size, int blockOrder, boolean crc32c,
                                 int firstSeq) throws IOException {
        return format(storage, offset, size, blockOrder, crc32c ? JournalHeader.FLAG_CRC32C : 0, firstSeq);
    }

    /**
     * Writes a new, empty journal of {@code size} bytes at {@code offset}: the whole area is
     * zeroed first, so nothing left in it from an earlier use can parse as a transaction. Flushes.
     * The first transaction will get {@code firstSeq} (non-zero).
     */
    public static Journal format(Storage storage, long offset, long size, int blockOrder, int flags, int firstSeq)
            throws IOException {
        if (offset < 0 || size > JournalHeader.MAX_JOURNAL_SIZE || offset > Long.MAX_VALUE - size) {
            throw new IllegalArgumentException("journal of " + size + " bytes at " + offset + " is out of range");
        }
        if (blockOrder < JournalHeader.MIN_BLOCK_ORDER || blockOrder > JournalHeader.MAX_BLOCK_ORDER
                || size < 2L << blockOrder || (size & ((1L << blockOrder) - 1)) != 0) {
            throw new IllegalArgumentException("journal size " + size + " is not a multiple of at least two blocks of order "
                    + blockOrder + " (" + JournalHeader.MIN_BLOCK_ORDER + ".." + JournalHeader.MAX_BLOCK_ORDER + ")");
        }
        if ((flags & ~JournalHeader.KNOWN_FLAGS) != 0 || firstSeq == 0) {
            throw new IllegalArgumentException("unknown flags 0x" + Integer.toHexString(flags) + " or first sequence 0");
        }
        // The draft recommends 0 as initial synced sequence; its successor is 1 like 0xFFFFFFFF's.
        int synced = firstSeq == 1 ? 0 : Seq.prev(firstSeq);
        JournalHeader h = new JournalHeader(size, blockOrder, 0, synced, synced, flags);
        JournalLayout layout = new JournalLayout(storage, offset, size, blockOrder);
        zero(storage, offset, size);
        storage.write(offset, ByteBuffer.wrap(h.encode()));
        storage.flush();
        Journal j = new Journal(layout, h);
        j.writer = new JournalWriter(layout, h.checksumKind(), firstSeq);
        return j;
    }

    /** Opens and validates the header, allowing block orders up to qcow2's largest cluster_bits. */
    public static Journal open(Storage storage, long offset, long size) throws IOException {
        return open(storage, offset, size, JournalHeader.MAX_BLOCK_ORDER);
    }

    /**
     * Reads and validates the header of the journal the image says is at {@code offset} with
     * {@code size} bytes; {@code maxBlockOrder} is the image's cluster_bits.
     *
     * @throws IOException (a {@link Qcow2Exception} naming the file) for a malformed header
     */
    public static Journal open(Storage storage, long offset, long size, int maxBlockOrder) throws IOException {
        String where = "journal at 0x" + Long.toHexString(offset);
        if (offset < 0 || size < 2L << JournalHeader.MIN_BLOCK_ORDER || size > JournalHeader.MAX_JOURNAL_SIZE
                || offset > Long.MAX_VALUE - size) {
            throw new Qcow2Exception(storage.name(), where + ": journal area of " + size + " bytes is out of range");
        }
        byte[] first = new byte[JournalHeader.HEADER_BYTES];
        storage.read(offset, ByteBuffer.wrap(first));
        JournalHeader.checkMagic(first, storage.name(), where);
        int order = JournalHeader.peekBlockOrder(first);
        int maxOrder = Math.min(maxBlockOrder, JournalHeader.MAX_BLOCK_ORDER);
        JournalHeader.checkBlockOrder(order, size, maxOrder, storage.name(), where);
        byte[] block = new byte[1 << order];
        storage.read(offset, ByteBuffer.wrap(block));
        JournalHeader h = JournalHeader.decode(block, size, maxOrder, storage.name(), where);
        return new Journal(new JournalLayout(storage, offset, size, order), h);
    }

    public JournalHeader header() {
        return header;
    }

    public JournalLayout layout() {
        return layout;
    }

    /** Walks the ring from the header's synced transaction; reads only. */
    public ScanResult scan() throws IOException {
        return new JournalScanner(layout, header).scan();
    }

    /**
     * Replays the committed transactions into {@code target} (normally the image file itself),
     * flushes it, then rewrites the header as an empty journal and flushes again, after which
     * the journal accepts appends. Uncommitted transactions are discarded.
     *
     * <p>The new header's sequence number skips as many values as the ring has blocks past the
     * last one found: a transaction beyond the chain's end (written out of order before a
     * crash) can then never be mistaken for a successor of a new one.
     */
    public JournalReplayer.Result recover(Storage target, TargetValidator validator, DedupIndex dedup)
            throws IOException {
        ScanResult scan = scan();
        JournalReplayer.Result r = JournalReplayer.replay(layout, scan, target, validator, dedup);
        target.flush();
        int fresh = Seq.add(scan.lastSeq(), layout.blockCount());
        header = header.withSynced(0, fresh, fresh);
        writeHeader();
        layout.storage().flush();
        writer = new JournalWriter(layout, header.checksumKind(), Seq.next(fresh));
        return r;
    }

    /** {@link #recover(Storage, TargetValidator, DedupIndex)} ignoring dedup descriptors. */
    public JournalReplayer.Result recover(Storage target, TargetValidator validator) throws IOException {
        return recover(target, validator, DedupIndex.NONE);
    }

    public boolean isWritable() {
        return writer != null;
    }

    /**
     * Writes the transaction at the ring's head and returns its sequence number; does not flush.
     *
     * @throws JournalFullException       checkpoint, then append again
     * @throws CopySourceConflictException checkpoint, then append again
     * @throws IllegalArgumentException    the transaction can never fit (see {@link #blocksNeeded})
     */
    public int append(TransactionBuilder tx) throws IOException {
        return writer().append(tx);
    }

    /** Ring blocks {@code tx} takes, or -1 if it can never fit into this journal. */
    public long blocksNeeded(TransactionBuilder tx) {
        return writer().blocksNeeded(tx);
    }

    /**
     * Records in the header that transactions up to {@code seq} are committed. The caller must
     * have flushed them first; the commit is durable after the next flush. Does not flush.
     */
    public void markCommitted(int seq) throws IOException {
        JournalWriter w = writer();
        if (seq != header.committedSeq() && !(w.isLive(seq) && Seq.isAfter(seq, header.committedSeq()))) {
            throw new IllegalArgumentException("transaction " + Seq.str(seq) + " cannot be committed: committed is "
                    + Seq.str(header.committedSeq()) + ", last appended " + Seq.str(w.lastSeq()));
        }
        header = header.withCommitted(seq);
        writeHeader();
    }

    /**
     * Declares transactions up to {@code seq} synced: their effects are written home and
     * flushed by the caller. Advances the header's synced index/sequence and flushes, so the
     * freed ring blocks can be reused safely.
     */
    public void checkpointed(int seq) throws IOException {
        int index = writer().release(seq);
        int committed = Seq.isAfter(seq, header.committedSeq()) ? seq : header.committedSeq();
        header = header.withSynced(index, seq, committed);
        writeHeader();
        layout.storage().flush();
    }

    public long freeBlocks() {
        return writer().freeBlocks();
    }

    public long freeBytes() {
        return writer().freeBlocks() << layout.blockOrder();
    }

    /** Sequence number of the last appended transaction. */
    public int lastSeq() {
        return writer().lastSeq();
    }

    private JournalWriter writer() {
        if (writer == null) {
            throw new IllegalStateException(layout.where() + " is open read-only: recover() it before appending");
        }
        return writer;
    }

    /** Rewrites the 512 header bytes only: one sector, which storage writes atomically. */
    private void writeHeader() throws IOException {
        layout.storage().write(layout.offset(), ByteBuffer.wrap(header.encode()));
    }

    static void zero(Storage storage, long offset, long length) throws IOException {
        byte[] zeros = new byte[(int) Math.min(length, JournalScanner.CHUNK)];
        for (long done = 0; done < length; ) {
            int k = (int) Math.min(zeros.length, length - done);
            storage.write(offset + done, ByteBuffer.wrap(zeros, 0, k));
            done += k;
        }
    }
}
