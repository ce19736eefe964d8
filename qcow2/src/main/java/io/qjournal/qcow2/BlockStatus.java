package io.qjournal.qcow2;

/**
 * Allocation status of a guest range in one layer of the chain, as QEMU's
 * bdrv_co_block_status reports it.
 *
 * @param offset guest offset
 * @param length bytes with the same status
 * @param allocated this layer decides the contents (data or zero); false = backing shows through
 * @param zero reads as zeros (zero flag, or unallocated without a backing file)
 * @param data host data backs it
 * @param hostOffset host offset of {@code offset} when data and not compressed, else -1
 * @param compressed stored compressed
 */
public record BlockStatus(long offset, long length, boolean allocated, boolean zero, boolean data,
        long hostOffset, boolean compressed) {
}
