package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.Qcow2Exception;

import java.nio.ByteBuffer;

/**
 * The journal header, stored in the first 512 bytes of journal block 0; the rest of block 0 is
 * reserved (zero). Integers are big-endian; the u32 fields are held in Java ints and compared
 * unsigned.
 *
 * @param journalSize  bytes of the whole journal including the header block (u32)
 * @param blockOrder   log2 of the journal block size, 9..cluster_bits
 * @param syncedIndex  ring block of the last synced transaction's descriptor; 0 = empty journal
 * @param syncedSeq    sequence number of the last synced transaction (or the predecessor of the
 *                     first transaction when the journal is empty)
 * @param committedSeq sequence number of the last committed transaction
 * @param flags        {@link #FLAG_CRC32C}, {@link #FLAG_DURABLE_COMMIT}
 */
public record JournalHeader(long journalSize, int blockOrder, int syncedIndex, int syncedSeq,
                            int committedSeq, int flags) {

    public static final long MAGIC = 0x716a6f75726e616cL; // "qjournal"
    public static final int MAGIC_OFFSET = 0;
    public static final int SIZE_OFFSET = 8;
    public static final int BLOCK_ORDER_OFFSET = 12;
    public static final int SYNCED_INDEX_OFFSET = 16;
    public static final int SYNCED_SEQ_OFFSET = 20;
    public static final int COMMITTED_SEQ_OFFSET = 24;
    public static final int CHECKSUM_OFFSET = 28;
    public static final int FLAGS_OFFSET = 32;
    /** Bytes of the header proper; updates rewrite only these (one sector, written atomically). */
    public static final int HEADER_BYTES = 512;

    /** Checksums are CRC-32C instead of the draft's one's complement byte sum. */
    public static final int FLAG_CRC32C = 1;
    /** A checksum-valid transaction that continues the chain counts as committed once durable. */
    public static final int FLAG_DURABLE_COMMIT = 2;
    public static final int KNOWN_FLAGS = FLAG_CRC32C | FLAG_DURABLE_COMMIT;

    public static final int MIN_BLOCK_ORDER = 9;
    /** qcow2's largest cluster_bits: the default upper bound when the caller gives none. */
    public static final int MAX_BLOCK_ORDER = 21;
    public static final long MAX_JOURNAL_SIZE = 0xFFFF_FFFFL;

    public ChecksumKind checksumKind() {
        return kindOf(flags);
    }

    public boolean durableCommit() {
        return (flags & FLAG_DURABLE_COMMIT) != 0;
    }

    public int blockSize() {
        return 1 << blockOrder;
    }

    public int blockCount() {
        return (int) ((journalSize >>> blockOrder) - 1);
    }

    public JournalHeader withSynced(int index, int seq, int committed) {
        return new JournalHeader(journalSize, blockOrder, index, seq, committed, flags);
    }

    public JournalHeader withCommitted(int committed) {
        return new JournalHeader(journalSize, blockOrder, syncedIndex, syncedSeq, committed, flags);
    }

    static ChecksumKind kindOf(int flags) {
        return (flags & FLAG_CRC32C) != 0 ? ChecksumKind.CRC32C : ChecksumKind.DRAFT_SUM;
    }

    /**
     * The 512 header bytes with their checksum, which covers the whole header block: the bytes
     * after the first 512 are reserved zeros, fed to the checksum as such.
     */
    public byte[] encode() {
        byte[] b = new byte[HEADER_BYTES];
        ByteBuffer buf = ByteBuffer.wrap(b);
        buf.putLong(MAGIC_OFFSET, MAGIC);
        buf.putInt(SIZE_OFFSET, (int) journalSize);
        buf.putInt(BLOCK_ORDER_OFFSET, blockOrder);
        buf.putInt(SYNCED_INDEX_OFFSET, syncedIndex);
        buf.putInt(SYNCED_SEQ_OFFSET, syncedSeq);
        buf.putInt(COMMITTED_SEQ_OFFSET, committedSeq);
        buf.putInt(FLAGS_OFFSET, flags);
        buf.putInt(CHECKSUM_OFFSET, checksum(b, blockSize(), checksumKind()));
        return b;
    }

    /** Checksum of a header block of which {@code b} holds the first bytes; the rest is zero. */
    static int checksum(byte[] b, int blockSize, ChecksumKind kind) {
        ChecksumKind.Accumulator acc = kind.start();
        acc.update(b, 0, CHECKSUM_OFFSET);
        acc.update(b, CHECKSUM_OFFSET + 4, b.length - CHECKSUM_OFFSET - 4);
        acc.updateZeros(blockSize - b.length);
        return acc.value();
    }

    /** Reads the block order of a header whose magic has been checked, for sizing the block read. */
    static int peekBlockOrder(byte[] first) {
        return ByteBuffer.wrap(first).getInt(BLOCK_ORDER_OFFSET);
    }

    static void checkMagic(byte[] first, String file, String where) throws Qcow2Exception {
        if (ByteBuffer.wrap(first).getLong(MAGIC_OFFSET) != MAGIC) {
            throw new Qcow2Exception(file, where + ": bad journal header magic (expected \"qjournal\")");
        }
    }

    /** Checks a block order before it is used to size anything. */
    static void checkBlockOrder(int order, long size, int maxOrder, String file, String where)
            throws Qcow2Exception {
        if (order < MIN_BLOCK_ORDER || order > maxOrder) {
            throw new Qcow2Exception(file, where + ": journal block size order " + order
                    + " is out of range " + MIN_BLOCK_ORDER + ".." + maxOrder);
        }
        if (size < 2L << order || (size & ((1L << order) - 1)) != 0) {
            throw new Qcow2Exception(file, where + ": journal size " + size
                    + " is not a multiple of at least two blocks of block size order " + order);
        }
    }

    /**
     * Decodes and validates a whole header block read from a journal area of {@code areaSize}
     * bytes. Every field is range-checked; any problem is one IOException naming the file.
     */
    static JournalHeader decode(byte[] block, long areaSize, int maxOrder, String file, String where)
            throws Qcow2Exception {
        checkMagic(block, file, where);
        ByteBuffer buf = ByteBuffer.wrap(block);
        int order = buf.getInt(BLOCK_ORDER_OFFSET);
        checkBlockOrder(order, areaSize, maxOrder, file, where);
        if (block.length != 1 << order) {
            throw new IllegalArgumentException("header block of " + block.length + " bytes for order " + order);
        }
        long size = buf.getInt(SIZE_OFFSET) & 0xFFFF_FFFFL;
        if (size != areaSize) {
            throw new Qcow2Exception(file, where + ": journal size field " + size
                    + " does not match the allocated journal area of " + areaSize + " bytes");
        }
        int flags = buf.getInt(FLAGS_OFFSET);
        int stored = buf.getInt(CHECKSUM_OFFSET);
        ChecksumKind kind = kindOf(flags);
        int actual = checksum(block, block.length, kind);
        if (stored != actual) {
            throw new Qcow2Exception(file, where + ": bad journal header checksum (stored 0x"
                    + Integer.toHexString(stored) + ", computed " + kind + " 0x" + Integer.toHexString(actual) + ")");
        }
        if ((flags & ~KNOWN_FLAGS) != 0) {
            throw new Qcow2Exception(file, where + ": unsupported journal flags 0x"
                    + Integer.toHexString(flags & ~KNOWN_FLAGS));
        }
        JournalHeader h = new JournalHeader(size, order, buf.getInt(SYNCED_INDEX_OFFSET),
                buf.getInt(SYNCED_SEQ_OFFSET), buf.getInt(COMMITTED_SEQ_OFFSET), flags);
        long index = h.syncedIndex & 0xFFFF_FFFFL;
        if (index > h.blockCount()) {
            throw new Qcow2Exception(file, where + ": synced index " + index
                    + " is beyond the journal's " + h.blockCount() + " blocks");
        }
        if (index != 0 && h.syncedSeq == 0) {
            throw new Qcow2Exception(file, where + ": synced index " + index + " with synced sequence 0");
        }
        long ahead = Seq.distance(h.syncedSeq, h.committedSeq);
        if (ahead > h.blockCount()) {
            throw new Qcow2Exception(file, where + ": committed sequence " + Seq.str(h.committedSeq)
                    + " is not within " + h.blockCount() + " transactions after synced sequence "
                    + Seq.str(h.syncedSeq));
        }
        return h;
    }
}
