package io.qjournal.qcow2.refcount;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.cache.TableCache;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.meta.MetaWrite;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.table.BigEndianLongs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Refcount table and blocks: lookups, updates in the block cache, cluster allocation, and
 * growth of the table. Not thread-safe: the image serialises metadata changes.
 *
 * <p>Updates only touch cached blocks; {@link #collectBlockWrites()} and
 * {@link #collectTableWrites()} hand the dirty parts to the image's metadata flush, which
 * writes blocks before the table entries that point at new blocks.
 */
public final class RefcountManager {
    /** Where a moved refcount table must be recorded: the image rewrites its header. */
    public interface TableMover {
        /**
         * Makes the new table and blocks durable and points the header at them; the old table's
         * clusters ({@code oldOffset}, {@code oldClusters}) are freed as part of the move.
         */
        void refcountTableMoved(long newOffset, int newClusters, List<MetaWrite> newStructures,
                long oldOffset, int oldClusters) throws IOException;
    }

    private final Storage storage;
    private final String file;
    private final int clusterBits;
    private final int clusterSize;
    private final int order;
    private final int blockBits;
    private final long maxRefcount;
    private final TableCache blocks;
    private long[] table;
    private long tableOffset;
    private final TreeSet<Integer> dirtyTableEntries = new TreeSet<>();
    /** Host offsets of all refcount blocks, for the metadata overlap check. */
    private final java.util.HashSet<Long> blockOffsets = new java.util.HashSet<>();
    private long freeClusterIndex;
    /** Freed clusters that must not be reused until the free is durable (journal commit). */
    private final TreeSet<Long> reserved = new TreeSet<>();
    /** Freed sources of delayed copies: not reusable until the copy is performed (checkpoint). */
    private final TreeSet<Long> copyReserved = new TreeSet<>();
    /** Blocks known to count no free cluster, so allocation scans skip them. */
    private final java.util.BitSet fullBlocks = new java.util.BitSet();
    private TableMover mover;

    /** Sees metadata committed to the journal but not yet written home. */
    private io.qjournal.qcow2.meta.MetadataWriter overlay;

    public void setReadOverlay(io.qjournal.qcow2.meta.MetadataWriter w) {
        overlay = w;
    }

    public RefcountManager(Storage storage, String file, int clusterBits, int order, long tableOffset,
            int tableClusters, long cacheBytes) throws IOException {
        this.storage = storage;
        this.file = file;
        this.clusterBits = clusterBits;
        this.clusterSize = 1 << clusterBits;
        this.order = order;
        this.blockBits = clusterBits + 3 - order;
        this.maxRefcount = RefcountBlock.maxValue(order);
        this.blocks = new TableCache((int) Math.max(4, cacheBytes / clusterSize));
        this.tableOffset = tableOffset;
        int entries = (int) ((long) tableClusters * clusterSize / 8);
        ByteBuffer buf = ByteBuffer.allocate(entries * 8);
        storage.read(tableOffset, buf);
        buf.flip();
        table = BigEndianLongs.decode(buf, entries);
        for (int i = 0; i < entries; i++) {
            if (table[i] != 0) {
                blockOffsets.add(table[i]);
            }
        }
    }

    public void setTableMover(TableMover mover) {
        this.mover = mover;
    }

    public long tableOffset() {
        return tableOffset;
    }

    public int tableClusters() {
        return (int) ((long) table.length * 8 / clusterSize);
    }

    /** True when the cluster at this host offset is a refcount block. */
    public boolean isBlock(long clusterOffset) {
        return blockOffsets.contains(clusterOffset);
    }

    public int order() {
        return order;
    }

    /** Refcount of a host cluster; clusters without a refcount block have refcount 0. */
    public long get(long clusterIndex) throws IOException {
        long ti = clusterIndex >>> blockBits;
        if (ti >= table.length || table[(int) ti] == 0) {
            return 0;
        }
        CachedTable b = block((int) ti);
        return RefcountBlock.get(b.data(), order, (int) (clusterIndex & ((1L << blockBits) - 1)));
    }

    /** Adds {@code addend} to the refcount of each of {@code count} clusters starting at a host offset. */
    public void update(long hostOffset, long count, long addend) throws IOException {
        long first = hostOffset >>> clusterBits;
        for (long c = first; c < first + count; c++) {
            updateOne(c, addend);
        }
    }

    private void updateOne(long clusterIndex, long addend) throws IOException {
        CachedTable b = ensureBlock(clusterIndex);
        int idx = (int) (clusterIndex & ((1L << blockBits) - 1));
        long cur = RefcountBlock.get(b.data(), order, idx);
        long next = cur + addend;
        if (addend < 0 && Long.compareUnsigned(cur, -addend) < 0) {
            throw new Qcow2Exception(file, String.format(
                    "refcount of cluster %d would drop below zero (refcount %d)", clusterIndex, cur));
        }
        if (addend > 0 && (Long.compareUnsigned(next, maxRefcount) > 0 || Long.compareUnsigned(next, cur) < 0)) {
            throw new Qcow2Exception(file, String.format(
                    "refcount of cluster %d would exceed the %d-bit refcount width", clusterIndex, 1 << order));
        }
        RefcountBlock.set(b.data(), order, idx, next);
        int byteIndex = (int) (((long) idx << order) >>> 3);
        b.markDirty(byteIndex, byteIndex + Math.max(1, (1 << order) / 8));
        if (next == 0) {
            fullBlocks.clear((int) (clusterIndex >>> blockBits));
            if (clusterIndex < freeClusterIndex) {
                freeClusterIndex = clusterIndex;
            }
        }
    }

    /**
     * Allocates {@code n} contiguous free clusters with refcount 1 and returns the host offset
     * of the first. The lowest free run at or after the allocation cursor is taken, as QEMU does.
     */
    public long allocate(int n) throws IOException {
        while (true) {
            long start = findFree(freeClusterIndex, n);
            for (long c = start; c < start + n; c++) {
                // New refcount blocks go after the run, as QEMU places them.
                ensureBlock(c, start + n);
            }
            // Creating a refcount block may have taken a cluster of the run: search again.
            if (findFree(start, n) != start) {
                continue;
            }
            for (long c = start; c < start + n; c++) {
                updateOne(c, 1);
            }
            // Everything between the cursor and the run is in use (or reserved, and the cursor
            // comes back to those when their reservation ends): move past the run.
            freeClusterIndex = start + n;
            return start << clusterBits;
        }
    }

    /**
     * Points the refcount table at a copy of a refcount block at {@code toOffset} (a cluster
     * the caller allocated): the copy, with every pending update, is written by the next flush
     * together with the table entry. The caller then frees the old block's cluster (its count
     * may live in the copy itself).
     */
    public void moveBlock(long fromOffset, long toOffset) throws IOException {
        int ti = -1;
        for (int i = 0; i < table.length; i++) {
            if (table[i] == fromOffset) {
                ti = i;
                break;
            }
        }
        if (ti < 0) {
            throw new Qcow2Exception(file, String.format("no refcount block at 0x%x to move", fromOffset));
        }
        CachedTable old = block(ti);
        CachedTable copy = new CachedTable(toOffset, old.data().clone());
        copy.markDirty();
        blocks.remove(fromOffset);
        blocks.put(copy);
        table[ti] = toOffset;
        blockOffsets.remove(fromOffset);
        blockOffsets.add(toOffset);
        dirtyTableEntries.add(ti);
    }

    /** Like {@link #allocate} but past the last cluster in use; later allocations still fill holes. */
    public long allocateAtEnd(int n) throws IOException {
        long cursor = freeClusterIndex;
        freeClusterIndex = Math.max(cursor, highestUsedCluster() + 1);
        long offset = allocate(n);
        freeClusterIndex = Math.min(cursor, freeClusterIndex);
        return offset;
    }

    private long findFree(long from, int n) throws IOException {
        long perBlock = 1L << blockBits;
        long start = from;
        long c = from;
        boolean blockAllUsed = false;
        while (c < start + n) {
            if (c > (HeaderCodec.MAX_OFFSET >>> clusterBits)) {
                throw new Qcow2Exception(file, "image file is full: no free cluster below 2^56");
            }
            if ((c & (perBlock - 1)) == 0) {
                if (c >>> blockBits < Integer.MAX_VALUE && fullBlocks.get((int) (c >>> blockBits))) {
                    // Every cluster this block covers is in use: skip it without reading it.
                    c += perBlock;
                    start = c;
                    continue;
                }
                blockAllUsed = true;
            }
            long rc = get(c);
            if (rc == 0) {
                blockAllUsed = false;
            }
            if (rc != 0 || (!reserved.isEmpty() && reserved.contains(c))
                    || (!copyReserved.isEmpty() && copyReserved.contains(c))) {
                start = c + 1;
            }
            c++;
            if ((c & (perBlock - 1)) == 0 && blockAllUsed && (c >>> blockBits) - 1 < Integer.MAX_VALUE) {
                fullBlocks.set((int) ((c >>> blockBits) - 1));
            }
        }
        return start;
    }

    private CachedTable block(int tableIndex) throws IOException {
        long off = table[tableIndex];
        CachedTable b = blocks.get(off);
        if (b != null) {
            return b;
        }
        if ((off & (clusterSize - 1)) != 0 || off > HeaderCodec.MAX_OFFSET) {
            throw new Qcow2Exception(file, String.format(
                    "refcount block offset 0x%x (refcount table index %d) is not aligned", off, tableIndex));
        }
        if (off + clusterSize > Math.max(storage.size(), overlay == null ? 0 : overlay.unsyncedEnd()) + clusterSize) {
            throw new Qcow2Exception(file, String.format(
                    "refcount block at 0x%x lies beyond the end of the file", off));
        }
        byte[] data = new byte[clusterSize];
        storage.read(off, data, 0, clusterSize);
        if (overlay != null) {
            overlay.overlayUnsynced(off, data);
        }
        b = new CachedTable(off, data);
        blocks.put(b);
        return b;
    }

    /** The block covering a cluster, creating it (and growing the table) when missing. */
    private CachedTable ensureBlock(long clusterIndex) throws IOException {
        return ensureBlock(clusterIndex, 0);
    }

    private CachedTable ensureBlock(long clusterIndex, long placeFrom) throws IOException {
        long ti = clusterIndex >>> blockBits;
        if (ti >= table.length) {
            growTable(ti);
        }
        if (table[(int) ti] != 0) {
            return block((int) ti);
        }
        // The new block takes the first free cluster. If it lies in its own range it counts
        // itself; otherwise its refcount goes into another block (which may in turn be new).
        long blockCluster = findFree(Math.max(freeClusterIndex, placeFrom), 1);
        long blockOffset = blockCluster << clusterBits;
        CachedTable b = new CachedTable(blockOffset, new byte[clusterSize]);
        b.markDirty();
        blocks.put(b);
        table[(int) ti] = blockOffset;
        blockOffsets.add(blockOffset);
        dirtyTableEntries.add((int) ti);
        updateOne(blockCluster, 1);
        return b;
    }

    /**
     * Moves the refcount table to a larger one at the end of the used space, with new
     * self-describing blocks covering the table and themselves (QEMU's alloc_refcount_block).
     */
    private void growTable(long neededIndex) throws IOException {
        long perBlock = 1L << blockBits;
        long minEntries = Math.max(neededIndex + 1, table.length + (table.length >> 1) + 1);
        long usedEnd = Math.max(highestUsedCluster() + 1, (storage.size() + clusterSize - 1) >>> clusterBits);
        // Past everything in use, and past freed clusters that may not be reused yet.
        long areaStart = Math.max(usedEnd, Math.max(reserved.isEmpty() ? 0 : reserved.last() + 1,
                copyReserved.isEmpty() ? 0 : copyReserved.last() + 1));
        long tableClusters = (minEntries * 8 + clusterSize - 1) >>> clusterBits;
        long newBlocks = 0;
        while (true) {
            long areaEnd = areaStart + tableClusters + newBlocks;
            long firstBi = areaStart / perBlock;
            long lastBi = (areaEnd - 1) / perBlock;
            long missing = 0;
            for (long bi = firstBi; bi <= lastBi; bi++) {
                if (bi >= table.length || table[(int) bi] == 0) {
                    missing++;
                }
            }
            long entries = Math.max(minEntries, lastBi + 1);
            long tc = (entries * 8 + clusterSize - 1) >>> clusterBits;
            if (missing == newBlocks && tc == tableClusters) {
                break;
            }
            newBlocks = missing;
            tableClusters = tc;
        }
        if (tableClusters * clusterSize > HeaderCodec.MAX_REFTABLE_BYTES) {
            throw new Qcow2Exception(file, "refcount table would exceed its maximum size");
        }
        long newTableOffset = areaStart << clusterBits;
        long[] newTable = new long[(int) (tableClusters * clusterSize / 8)];
        System.arraycopy(table, 0, newTable, 0, table.length);
        List<MetaWrite> structures = new ArrayList<>();
        long next = areaStart + tableClusters;
        long areaEnd = areaStart + tableClusters + newBlocks;
        List<CachedTable> created = new ArrayList<>();
        for (long bi = areaStart / perBlock; bi <= (areaEnd - 1) / perBlock; bi++) {
            if (newTable[(int) bi] == 0) {
                CachedTable b = new CachedTable(next << clusterBits, new byte[clusterSize]);
                newTable[(int) bi] = b.offset();
                created.add(b);
                next++;
            }
        }
        for (long c = areaStart; c < areaEnd; c++) {
            CachedTable b = findCreated(created, newTable[(int) (c / perBlock)]);
            if (b != null) {
                RefcountBlock.set(b.data(), order, (int) (c % perBlock), 1);
            }
        }
        // Area clusters counted in blocks that already exist: counted before the switch, so the
        // flush (or transaction) that publishes the new table carries them.
        for (long c = areaStart; c < areaEnd; c++) {
            if (findCreated(created, newTable[(int) (c / perBlock)]) == null) {
                updateOne(c, 1);
            }
        }
        for (CachedTable b : created) {
            structures.add(new MetaWrite(b.offset(), b.data().clone()));
        }
        ByteBuffer tb = ByteBuffer.allocate(newTable.length * 8);
        for (long e : newTable) {
            tb.putLong(e);
        }
        structures.add(new MetaWrite(newTableOffset, tb.array()));
        if (mover == null) {
            throw new Qcow2Exception(file, "refcount table is full and cannot be moved here");
        }
        long oldOffset = tableOffset;
        int oldClusters = tableClusters();
        mover.refcountTableMoved(newTableOffset, (int) tableClusters, structures, oldOffset, oldClusters);
        table = newTable;
        tableOffset = newTableOffset;
        dirtyTableEntries.clear();
        for (CachedTable b : created) {
            b.markClean();
            blocks.put(b);
            blockOffsets.add(b.offset());
        }
    }

    private static CachedTable findCreated(List<CachedTable> created, long offset) {
        for (CachedTable b : created) {
            if (b.offset() == offset) {
                return b;
            }
        }
        return null;
    }

    /** Keeps a freed cluster from reuse until {@link #clearReservations()}. */
    public void reserve(long clusterIndex) {
        reserved.add(clusterIndex);
    }

    public void clearReservations() {
        if (!reserved.isEmpty()) {
            freeClusterIndex = Math.min(freeClusterIndex, reserved.first());
            reserved.clear();
        }
    }

    public void reserveUntilCheckpoint(long clusterIndex) {
        copyReserved.add(clusterIndex);
    }

    public void clearCopyReservations() {
        if (!copyReserved.isEmpty()) {
            freeClusterIndex = Math.min(freeClusterIndex, copyReserved.first());
            copyReserved.clear();
        }
    }

    /** Writes the next flush would issue (dirty blocks and table entries), before coalescing. */
    public int dirtyWrites() {
        return dirtyTableEntries.size() + blocks.dirtyCount();
    }

    /** Bytes of dirty refcount metadata waiting for the next flush or commit. */
    public long dirtyBytes() {
        return 8L * dirtyTableEntries.size() + blocks.dirtyBytes();
    }

    /** Highest cluster index with a non-zero refcount, or -1. */
    public long highestUsedCluster() throws IOException {
        for (int ti = table.length - 1; ti >= 0; ti--) {
            if (table[ti] == 0) {
                continue;
            }
            CachedTable b = block(ti);
            for (int i = (1 << blockBits) - 1; i >= 0; i--) {
                if (RefcountBlock.get(b.data(), order, i) != 0) {
                    return ((long) ti << blockBits) + i;
                }
            }
        }
        return -1;
    }

    /** Dirty blocks as writes; they are marked clean (the caller must write them). */
    public List<MetaWrite> collectBlockWrites() {
        List<MetaWrite> out = new ArrayList<>();
        for (CachedTable b : blocks.dirtyTables()) {
            out.add(new MetaWrite(b.dirtyOffset(), b.dirtyBytes()));
            b.markClean();
        }
        blocks.trim();
        return out;
    }

    /** Forgets dirty table entries (a moved table already holds them). */
    public void discardTableWrites() {
        dirtyTableEntries.clear();
    }

    /** Table entries that point at new blocks, as 8-byte writes. */
    public List<MetaWrite> collectTableWrites() {
        List<MetaWrite> out = new ArrayList<>();
        for (int i : dirtyTableEntries) {
            out.add(new MetaWrite(tableOffset + 8L * i, ByteBuffer.allocate(8).putLong(table[i]).array()));
        }
        dirtyTableEntries.clear();
        return out;
    }

    public boolean hasDirty() {
        return !dirtyTableEntries.isEmpty() || blocks.dirtyCount() > 0;
    }

    public boolean cacheOverfull() {
        return blocks.needsWriteback();
    }
}
