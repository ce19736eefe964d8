package io.qjournal.qcow2.check;

import io.qjournal.qcow2.refcount.RefcountBlock;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.table.BigEndianLongs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The refcounts as the image stores them: the refcount table plus a small cache of refcount
 * blocks. Repairs go through {@link #set}, which writes the changed entry straight back.
 */
final class StoredRefcounts {
    /** QEMU's REFT_OFFSET_MASK and REFT_RESERVED_MASK. */
    static final long REFT_OFFSET_MASK = 0xffff_ffff_ffff_fe00L;
    static final long REFT_RESERVED_MASK = 0x1ffL;
    private static final int CACHE_BLOCKS = 64;

    /** A refcount that cannot be read; the reason is the message qemu-img prints. */
    static final class Unreadable extends Exception {
        Unreadable(String reason) {
            super(reason, null, false, false);
        }
    }

    private final Storage storage;
    private final int clusterBits;
    private final int order;
    private final int blockBits;
    private final int clusterSize;
    final long tableOffset;
    final long[] table;
    private final Map<Long, byte[]> cache = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, byte[]> e) {
            return size() > CACHE_BLOCKS;
        }
    };

    private StoredRefcounts(Storage storage, int clusterBits, int order, long tableOffset, long[] table) {
        this.storage = storage;
        this.clusterBits = clusterBits;
        this.order = order;
        this.blockBits = clusterBits + 3 - order;
        this.clusterSize = 1 << clusterBits;
        this.tableOffset = tableOffset;
        this.table = table;
    }

    /**
     * Loads the refcount table. Its size is bounded by the header codec (at most 8 MiB), and
     * entries past the end of the file read as zero, so no more than the file holds is trusted.
     */
    static StoredRefcounts load(Storage storage, int clusterBits, int order, long tableOffset, int tableClusters)
            throws IOException {
        int entries = (int) (((long) tableClusters << clusterBits) / 8);
        long[] table = new long[entries];
        long avail = Math.max(0, Math.min((long) entries * 8, storage.size() - tableOffset));
        if (avail > 0) {
            ByteBuffer b = ByteBuffer.allocate((int) avail);
            storage.read(tableOffset, b);
            b.flip();
            long[] read = BigEndianLongs.decode(b, (int) (avail / 8));
            System.arraycopy(read, 0, table, 0, read.length);
        }
        return new StoredRefcounts(storage, clusterBits, order, tableOffset, table);
    }

    int blockBits() {
        return blockBits;
    }

    int clusterSize() {
        return clusterSize;
    }

    /** Clusters the refcount table can describe at all. */
    long coveredClusters() {
        return Math.min(RefcountArray.MAX_CLUSTERS, (long) table.length << blockBits);
    }

    /** Whether the cluster's refcount block exists (and is usable). */
    boolean hasBlock(long cluster) {
        long rtIndex = cluster >>> blockBits;
        if (rtIndex >= table.length) {
            return false;
        }
        long off = table[(int) rtIndex];
        return (off & REFT_OFFSET_MASK) != 0 && (off & REFT_RESERVED_MASK) == 0
                && ((off & REFT_OFFSET_MASK) & (clusterSize() - 1)) == 0;
    }

    /** The stored refcount of a host cluster (QEMU's qcow2_get_refcount). */
    long get(long cluster) throws IOException, Unreadable {
        long rtIndex = cluster >>> blockBits;
        if (rtIndex >= table.length) {
            return 0;
        }
        long blockOffset = table[(int) rtIndex] & REFT_OFFSET_MASK;
        if (blockOffset == 0) {
            return 0;
        }
        if ((blockOffset & (clusterSize - 1)) != 0) {
            throw new Unreadable("Input/output error");
        }
        byte[] block = block(blockOffset);
        return RefcountBlock.get(block, order, (int) (cluster & ((1L << blockBits) - 1)));
    }

    /**
     * The refcount block holding {@code cluster}'s entry, or null when it has none or its
     * offset is unusable ({@link #get} then says why, entry by entry). The cached block itself:
     * callers only read it.
     */
    byte[] blockBytes(long cluster) throws IOException {
        long rtIndex = cluster >>> blockBits;
        if (rtIndex >= table.length) {
            return null;
        }
        long blockOffset = table[(int) rtIndex] & REFT_OFFSET_MASK;
        if (blockOffset == 0 || (blockOffset & (clusterSize - 1)) != 0) {
            return null;
        }
        return block(blockOffset);
    }

    /**
     * Stores a new refcount for a cluster whose refcount block exists. Returns false when
     * there is no usable block (the caller then counts the mismatch as not repaired).
     */
    boolean set(long cluster, long value) throws IOException {
        byte[] block = blockBytes(cluster);
        if (block == null) {
            return false;
        }
        long blockOffset = table[(int) (cluster >>> blockBits)] & REFT_OFFSET_MASK;
        int index = (int) (cluster & ((1L << blockBits) - 1));
        RefcountBlock.set(block, order, index, value);
        // Write back the bytes holding this entry (sub-byte widths share a byte).
        int bitPos = index << order;
        int first = bitPos >>> 3;
        int len = Math.max(1, (1 << order) >>> 3);
        storage.write(blockOffset + first, block, first, len);
        return true;
    }

    private long lastOffset = -1;
    private byte[] lastBlock;

    private byte[] block(long offset) throws IOException {
        if (offset == lastOffset) {
            return lastBlock;
        }
        byte[] b = cache.get(offset);
        if (b == null) {
            b = new byte[clusterSize()];
            // A block past the end of the file reads as zeros, as it would from a sparse file.
            long fileSize = storage.size();
            int n = offset >= fileSize ? 0 : (int) Math.min(b.length, fileSize - offset);
            if (n > 0) {
                storage.read(offset, b, 0, n);
            }
            cache.put(offset, b);
        }
        lastOffset = offset;
        lastBlock = b;
        return b;
    }
}
