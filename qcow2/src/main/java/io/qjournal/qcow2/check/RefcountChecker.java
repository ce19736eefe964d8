package io.qjournal.qcow2.check;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.bitmap.BitmapDirectory;
import io.qjournal.qcow2.snapshot.SnapshotEntry;
import io.qjournal.qcow2.snapshot.SnapshotTable;
import io.qjournal.qcow2.storage.Extent;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;

/**
 * QEMU's qcow2_check_refcounts: builds the expected refcount of every cluster from the
 * metadata, compares it with the stored refcounts, repairs what the mode allows (rebuilding
 * the whole refcount structure when it is beyond point repairs), then checks COPIED flags.
 */
final class RefcountChecker {
    private final CheckContext ctx;
    private final SnapshotTable.Parsed snapshots;
    private final List<Extent> extraRanges;
    private long reftableOffset;
    private int reftableClusters;
    private StoredRefcounts stored;
    private boolean rebuild;
    long imageEndOffset;

    RefcountChecker(CheckContext ctx, SnapshotTable.Parsed snapshots, List<Extent> extraRanges) {
        this.ctx = ctx;
        this.snapshots = snapshots;
        this.extraRanges = extraRanges;
        this.reftableOffset = ctx.header.refcountTableOffset();
        this.reftableClusters = ctx.header.refcountTableClusters();
    }

    /** The stored refcounts as they are after this check (and its repairs). */
    StoredRefcounts stored() {
        return stored;
    }

    void run() throws IOException, CheckContext.Abort {
        CheckContext.Counters res = ctx.res;
        long size = ctx.storage.size();
        long nbClusters = ctx.sizeToClusters(size);
        if (nbClusters > RefcountArray.MAX_CLUSTERS) {
            res.checkErrors++;
            throw new CheckContext.Abort("File too large");
        }
        stored = StoredRefcounts.load(ctx.storage, ctx.clusterBits, ctx.refcountOrder, reftableOffset,
                reftableClusters);
        RefcountArray imrt = new RefcountArray(ctx.refcountOrder, ctx.clusterBits, nbClusters);
        ctx.guard = new OverlapGuard(ctx, stored, snapshots);
        calculate(imrt, ctx.mode);

        CheckContext.Counters preCompare = res.copy();
        long highest = compare(imrt, RepairMode.NONE);

        if (rebuild && ctx.mode.fixErrors()) {
            CheckContext.Counters old = res.copy();
            ctx.msg("Rebuilding refcount structure");
            RefcountRebuilder rb = new RefcountRebuilder(ctx, imrt);
            try {
                rb.rebuild();
            } catch (IOException | IllegalArgumentException e) {
                res.checkErrors++;
                throw new CheckContext.Abort("ERROR rebuilding refcount structure: " + e.getMessage());
            }
            reftableOffset = rb.tableOffset;
            reftableClusters = rb.tableClusters;
            stored = StoredRefcounts.load(ctx.storage, ctx.clusterBits, ctx.refcountOrder, reftableOffset,
                    reftableClusters);
            ctx.guard = new OverlapGuard(ctx, stored, snapshots);
            res.corruptions = 0;
            res.leaks = 0;
            // Counted again by the second pass (QEMU double-counts them here; qemu-img never shows it).
            res.allocated = 0;
            res.fragmented = 0;
            res.compressed = 0;
            rebuild = false;
            imrt = new RefcountArray(ctx.refcountOrder, ctx.clusterBits, ctx.sizeToClusters(ctx.storage.size()));
            calculate(imrt, RepairMode.NONE);
            // The old structures are leaked now; free them. Only leaks the rebuild itself left count.
            CheckContext.Counters saved = res.copy();
            res.set(new CheckContext.Counters());
            highest = compare(imrt, RepairMode.LEAKS);
            if (rebuild) {
                ctx.msg("ERROR rebuilt refcount structure is still broken");
            }
            long freshLeaks = res.leaks;
            res.set(saved);
            if (res.corruptions < old.corruptions) {
                res.corruptionsFixed += old.corruptions - res.corruptions;
            }
            if (res.leaks < old.leaks) {
                res.leaksFixed += old.leaks - res.leaks;
            }
            res.leaks += freshLeaks;
            ctx.storage.flush();
        } else if (ctx.mode != RepairMode.NONE) {
            if (rebuild) {
                ctx.msg("ERROR need to rebuild refcount structures");
                res.checkErrors++;
                throw new CheckContext.Abort("Input/output error");
            }
            if (res.leaks != 0 || res.corruptions != 0) {
                // L2 entries repaired while counting must be durable before refcounts drop.
                ctx.storage.flush();
                res.set(preCompare);
                highest = compare(imrt, ctx.mode);
                // Raised refcounts must be durable before COPIED flags that rely on them.
                ctx.storage.flush();
            }
        }

        CopiedFlagCheck.run(ctx, stored, ctx.header.l1TableOffset(), ctx.header.l1Size());
        if (ctx.mode != RepairMode.NONE) {
            ctx.storage.flush();
        }
        imageEndOffset = (highest + 1) * ctx.clusterSize;
    }

    /** QEMU's calculate_refcounts. */
    private void calculate(RefcountArray imrt, RepairMode fix) throws IOException, CheckContext.Abort {
        CheckContext.Counters res = ctx.res;
        ctx.refreshFileSize();
        TableWalker walker = new TableWalker(ctx, imrt);
        ctx.inc(imrt, 0, ctx.clusterSize);
        walker.checkL1(ctx.header.l1TableOffset(), ctx.header.l1Size(), true, true);
        List<SnapshotEntry> snaps = snapshots.entries();
        if (ctx.dataFile && !snaps.isEmpty()) {
            ctx.msg("ERROR %d snapshots in image with data file", snaps.size());
            res.corruptions++;
        }
        // The walker's fragmentation counters belong to the active table only.
        for (SnapshotEntry sn : snaps) {
            if (ctx.offsetIntoCluster(sn.l1TableOffset()) != 0) {
                ctx.msg("ERROR snapshot %s (%s) l1_offset=%#x: L1 table is not cluster aligned; snapshot table "
                        + "entry corrupted", sn.id(), sn.name(), sn.l1TableOffset());
                res.corruptions++;
                continue;
            }
            if (Integer.toUnsignedLong(sn.l1Size()) > SnapshotTable.MAX_L1_ENTRIES) {
                ctx.msg("ERROR snapshot %s (%s) l1_size=%#x: L1 table is too large; snapshot table entry corrupted",
                        sn.id(), sn.name(), sn.l1Size());
                res.corruptions++;
                continue;
            }
            walker.checkL1(sn.l1TableOffset(), sn.l1Size(), false, false);
        }
        ctx.inc(imrt, ctx.header.snapshotsOffset(), snapshots.sizeBytes());
        ctx.inc(imrt, reftableOffset, (long) stored.table.length * 8);
        BitmapDirectory bitmaps;
        try {
            bitmaps = BitmapDirectory.read(ctx.storage, ctx.header);
        } catch (Qcow2Exception e) {
            res.corruptions++;
            res.checkErrors++;
            ctx.msg("ERROR %s", e.getMessage());
            throw new CheckContext.Abort("Invalid argument");
        }
        for (Extent r : bitmaps.occupiedRanges()) {
            ctx.inc(imrt, r.offset(), r.length());
        }
        for (Extent r : extraRanges) {
            ctx.inc(imrt, r.offset(), r.length());
        }
        checkRefblocks(imrt, fix);
    }

    /** QEMU's check_refblocks: every refcount block aligned, inside the file and referenced once. */
    private void checkRefblocks(RefcountArray imrt, RepairMode fix) throws IOException {
        CheckContext.Counters res = ctx.res;
        long[] table = stored.table;
        boolean skipEmpty = imrt.size() > 0;
        for (int i = 0; i < table.length; i++) {
            if (table[i] == 0 && skipEmpty) {
                // No block: nothing to check (most of the table).
                continue;
            }
            long offset = table[i] & StoredRefcounts.REFT_OFFSET_MASK;
            long cluster = offset >>> ctx.clusterBits;
            if ((table[i] & StoredRefcounts.REFT_RESERVED_MASK) != 0) {
                ctx.msg("ERROR refcount table entry %d has reserved bits set", i);
                res.corruptions++;
                rebuild = true;
                continue;
            }
            if (ctx.offsetIntoCluster(offset) != 0) {
                ctx.msg("ERROR refcount block %d is not cluster aligned; refcount table entry corrupted", i);
                res.corruptions++;
                rebuild = true;
                continue;
            }
            if (cluster >= imrt.size()) {
                res.corruptions++;
                ctx.msg("%s refcount block %d is outside image", ctx.prefix(fix.fixErrors()), i);
                if (fix.fixErrors()) {
                    if (growFileFor(offset, cluster, imrt)) {
                        res.corruptions--;
                        res.corruptionsFixed++;
                        // The new cluster is zeroed, so this is its only reference.
                        ctx.inc(imrt, offset, ctx.clusterSize);
                        continue;
                    }
                    rebuild = true;
                }
                continue;
            }
            if (offset != 0) {
                ctx.inc(imrt, offset, ctx.clusterSize);
                long rc = imrt.get(cluster);
                if (rc != 1) {
                    ctx.msg("ERROR refcount block %d refcount=%s", i, Long.toUnsignedString(rc));
                    res.corruptions++;
                    rebuild = true;
                }
            }
        }
    }

    /** Extends the file to hold a refcount block that lies past its end (QEMU's repair). */
    private boolean growFileFor(long offset, long cluster, RefcountArray imrt) {
        try {
            if (cluster + 1 > RefcountArray.MAX_CLUSTERS) {
                throw new IOException("offset 0x" + Long.toHexString(offset) + " is too large");
            }
            ctx.storage.truncate(offset + ctx.clusterSize);
            ctx.refreshFileSize();
            imrt.resize(ctx.sizeToClusters(ctx.fileSize()));
            return cluster < imrt.size();
        } catch (IOException | IllegalArgumentException e) {
            ctx.msg("ERROR could not resize image: %s", e.getMessage());
            return false;
        }
    }

    /** QEMU's compare_refcounts; returns the highest cluster in use. */
    private long compare(RefcountArray imrt, RepairMode fix) throws IOException {
        long highest = 0;
        long n = imrt.size();
        long perBlock = 1L << stored.blockBits();
        for (long start = 0; start < n; start += perBlock) {
            long end = Math.min(n, start + perBlock);
            long h = sameRefcounts(imrt, start, end);
            if (h == DIFFERENT) {
                h = compare(imrt, fix, start, end);
            }
            if (h >= 0) {
                highest = h;
            }
        }
        return highest;
    }

    private static final long DIFFERENT = -2;

    /**
     * Whether the stored and the computed refcounts of clusters [start, end) (within one
     * refcount block) are equal, compared as bytes: then the highest cluster in use among them
     * (-1 for none). {@link #DIFFERENT} when they differ or the block cannot be compared whole,
     * which leaves the entry-by-entry comparison (and its messages) to find out.
     */
    private long sameRefcounts(RefcountArray imrt, long start, long end) throws IOException {
        int bits = (int) ((end - start) << ctx.refcountOrder);
        if ((bits & 7) != 0) {
            return DIFFERENT;
        }
        byte[] disk = stored.blockBytes(start);
        byte[] computed = imrt.page(start);
        if (disk == null || computed == null || !Arrays.equals(disk, 0, bits >>> 3, computed, 0, bits >>> 3)) {
            return DIFFERENT;
        }
        for (long i = Math.min(end - 1, imrt.highestSet()); i >= start; i--) {
            if (imrt.get(i) != 0) {
                return i;
            }
        }
        return -1;
    }

    /** The entry-by-entry comparison of clusters [start, end); returns the highest in use among them, or -1. */
    private long compare(RefcountArray imrt, RepairMode fix, long start, long end) throws IOException {
        CheckContext.Counters res = ctx.res;
        long highest = -1;
        for (long i = start; i < end; i++) {
            long r1;
            try {
                r1 = stored.get(i);
            } catch (StoredRefcounts.Unreadable e) {
                ctx.msg("Can't get refcount for cluster %d: %s", i, e.getMessage());
                res.checkErrors++;
                continue;
            }
            long r2 = imrt.get(i);
            if (r1 != 0 || r2 != 0) {
                highest = i;
            }
            if (r1 == r2) {
                continue;
            }
            int cmp = Long.compareUnsigned(r1, r2);
            boolean fixLeak = false;
            boolean fixCorruption = false;
            if (r1 == 0) {
                rebuild = true;
            } else if (cmp > 0 && fix.fixLeaks()) {
                fixLeak = true;
            } else if (cmp < 0 && fix.fixErrors()) {
                fixCorruption = true;
            }
            boolean fixing = fixLeak || fixCorruption;
            ctx.msg("%s cluster %d refcount=%s reference=%s", fixing ? "Repairing" : cmp < 0 ? "ERROR" : "Leaked", i,
                    Long.toUnsignedString(r1), Long.toUnsignedString(r2));
            if (fixing && stored.set(i, r2)) {
                if (fixLeak) {
                    res.leaksFixed++;
                } else {
                    res.corruptionsFixed++;
                }
                continue;
            }
            if (cmp < 0) {
                res.corruptions++;
            } else {
                res.leaks++;
            }
        }
        return highest;
    }
}
