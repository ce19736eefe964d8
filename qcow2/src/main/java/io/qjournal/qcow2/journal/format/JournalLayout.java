package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.storage.Storage;

/**
 * Where a journal lives: {@code size} bytes at byte {@code offset} of {@code storage}, cut into
 * blocks of {@code 1 << blockOrder} bytes. Block 0 is the journal header block; ring blocks are
 * numbered 1..{@link #blockCount()}.
 */
public record JournalLayout(Storage storage, long offset, long size, int blockOrder) {

    public int blockSize() {
        return 1 << blockOrder;
    }

    /** Number of ring blocks (all blocks but the header block). */
    public int blockCount() {
        return (int) ((size >>> blockOrder) - 1);
    }

    /** Byte offset in the storage of journal block {@code index} (0 = header block). */
    public long blockOffset(long index) {
        return offset + (index << blockOrder);
    }

    /** Number of blocks {@code length} bytes of data occupy. */
    public long blocksFor(long length) {
        return (length + blockSize() - 1) >>> blockOrder;
    }

    /** "journal at 0x…" for error messages; the file name is added by Qcow2Exception. */
    public String where() {
        return "journal at 0x" + Long.toHexString(offset);
    }

    public boolean overlaps(long start, long length) {
        return start < offset + size && offset < start + length;
    }
}
