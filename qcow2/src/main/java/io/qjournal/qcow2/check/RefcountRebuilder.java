package io.qjournal.qcow2.check;

import io.qjournal.qcow2.header.HeaderCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * QEMU's rebuild_refcount_structure: writes a brand-new refcount table and refcount blocks
 * computed solely from the in-memory refcounts, allocating their clusters in that same array
 * (so they describe themselves), then points the header at the new table. The old structures
 * are leaked and the second comparison pass frees them.
 *
 * <p>Ordering: every new block and the new table are flushed before the header switches to
 * them, and the header write is flushed before the caller relies on it.
 */
final class RefcountRebuilder {
    private final CheckContext ctx;
    private final RefcountArray imrt;
    private long[] reftable = new long[0];

    /** The new table's place, for the caller to reload the stored refcounts. */
    long tableOffset;
    int tableClusters;

    RefcountRebuilder(CheckContext ctx, RefcountArray imrt) {
        this.ctx = ctx;
        this.imrt = imrt;
    }

    /** QEMU's alloc_clusters_imrt: the first run of {@code count} free clusters at or after *firstFree. */
    private long allocClusters(int count, long[] firstFree) {
        long cluster = firstFree[0];
        boolean firstGap = true;
        int contiguous = 0;
        for (; cluster < imrt.size() && contiguous < count; cluster++) {
            if (imrt.get(cluster) == 0) {
                contiguous++;
                if (firstGap) {
                    firstFree[0] = cluster;
                    firstGap = false;
                }
            } else if (contiguous > 0) {
                contiguous = 0;
            }
        }
        if (contiguous < count) {
            imrt.resize(cluster + count - contiguous);
        }
        cluster -= contiguous;
        for (int i = 0; i < count; i++) {
            imrt.set(cluster + i, 1);
        }
        return cluster << ctx.clusterBits;
    }

    /**
     * QEMU's rebuild_refcounts_write_refblocks: for every refcount block that has a non-zero
     * entry in [first, end), allocate it (unless the table already has it) and write it.
     * Returns whether the in-memory reftable had to grow.
     */
    private boolean writeRefblocks(long first, long end) throws IOException {
        long[] firstFree = {0};
        boolean grown = false;
        int perBlock = imrt.entriesPerBlock();
        for (long cluster = first; cluster < end; cluster++) {
            if (imrt.get(cluster) == 0) {
                continue;
            }
            long index = cluster >>> imrt.blockBits();
            long blockStart = index << imrt.blockBits();
            long blockOffset;
            if (index < reftable.length && reftable[(int) index] != 0) {
                blockOffset = reftable[(int) index];
            } else {
                // Never put a block inside a range of blocks already written.
                if (firstFree[0] < blockStart) {
                    firstFree[0] = blockStart;
                }
                blockOffset = allocClusters(1, firstFree);
                long blockCluster = blockOffset >>> ctx.clusterBits;
                if (blockCluster >= end) {
                    // This block's own refcount must be written too.
                    end = blockCluster + 1;
                }
                if (index >= reftable.length) {
                    int entriesPerCluster = ctx.clusterSize / 8;
                    long n = ((index + 1 + entriesPerCluster - 1) / entriesPerCluster) * entriesPerCluster;
                    if (n * 8 > HeaderCodec.MAX_REFTABLE_BYTES) {
                        throw new IOException(ctx.file + ": rebuilt refcount table would exceed "
                                + HeaderCodec.MAX_REFTABLE_BYTES + " bytes");
                    }
                    reftable = Arrays.copyOf(reftable, (int) n);
                    grown = true;
                }
                reftable[(int) index] = blockOffset;
            }
            byte[] block = imrt.block(index);
            ctx.storage.write(blockOffset, block, 0, block.length);
            cluster = blockStart + perBlock - 1;
        }
        return grown;
    }

    /** Builds and installs the new structure; throws on I/O failure (the caller reports it). */
    void rebuild() throws IOException {
        boolean changed = writeRefblocks(0, imrt.size());
        long reftableOffset;
        long clusters;
        do {
            long[] firstFree = {0};
            long length = (long) reftable.length * 8;
            clusters = ctx.sizeToClusters(length);
            reftableOffset = allocClusters((int) clusters, firstFree);
            long startCluster = reftableOffset >>> ctx.clusterBits;
            changed = writeRefblocks(startCluster, startCluster + clusters);
        } while (changed);

        ByteBuffer t = ByteBuffer.allocate(reftable.length * 8);
        for (long e : reftable) {
            t.putLong(e);
        }
        t.flip();
        ctx.storage.write(reftableOffset, t);
        // The new blocks and table must be durable before the header points at them.
        ctx.storage.flush();
        ByteBuffer hdr = ByteBuffer.allocate(12).putLong(0, reftableOffset).putInt(8, (int) clusters);
        ctx.storage.write(HeaderCodec.REFCOUNT_TABLE_OFFSET_OFFSET, hdr);
        ctx.storage.flush();
        tableOffset = reftableOffset;
        tableClusters = (int) clusters;
    }
}
