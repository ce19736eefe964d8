package io.qjournal.qcow2.check;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.bitmap.BitmapDirectory;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.snapshot.SnapshotEntry;
import io.qjournal.qcow2.snapshot.SnapshotTable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;

/**
 * QEMU's metadata overlap check ("cached" mode, its default) for repair writes into tables
 * that damage may have placed on top of other metadata: a repair must never turn an L2 table
 * that overlaps the header or a refcount block into a worse image. A refused write marks the
 * image corrupt and ends the check, as QEMU does.
 */
final class OverlapGuard {
    enum Kind {
        MAIN_HEADER("qcow2_header"), ACTIVE_L1("active L1 table"), ACTIVE_L2("active L2 table"),
        REFCOUNT_TABLE("refcount table"), REFCOUNT_BLOCK("refcount block"), SNAPSHOT_TABLE("snapshot table"),
        INACTIVE_L1("inactive L1 table"), BITMAP_DIRECTORY("bitmap directory");

        final String qemuName;

        Kind(String qemuName) {
            this.qemuName = qemuName;
        }
    }

    private record Region(Kind kind, long offset, long length) {
    }

    private final CheckContext ctx;
    private final StoredRefcounts stored;
    private final SnapshotTable.Parsed snapshots;
    private List<Region> regions;

    OverlapGuard(CheckContext ctx, StoredRefcounts stored, SnapshotTable.Parsed snapshots) {
        this.ctx = ctx;
        this.stored = stored;
        this.snapshots = snapshots;
    }

    /**
     * The metadata regions, collected at the first write that needs them: most checks write
     * nothing, and none of what is collected here moves before a repair writes (a rebuild of
     * the refcount structure makes a new guard).
     */
    private List<Region> regions() throws IOException {
        if (regions == null) {
            regions = collect();
        }
        return regions;
    }

    private List<Region> collect() throws IOException {
        List<Region> regions = new ArrayList<>();
        int cs = ctx.clusterSize;
        var h = ctx.header;
        regions.add(new Region(Kind.ACTIVE_L1, h.l1TableOffset(), (long) h.l1Size() * 8));
        for (long e : TableWalker.readTable(ctx, h.l1TableOffset(), h.l1Size())) {
            long l2 = e & TableWalker.L1E_OFFSET_MASK;
            if (l2 != 0) {
                regions.add(new Region(Kind.ACTIVE_L2, l2, cs));
            }
        }
        regions.add(new Region(Kind.REFCOUNT_TABLE, stored.tableOffset, (long) stored.table.length * 8));
        for (long e : stored.table) {
            long b = e & StoredRefcounts.REFT_OFFSET_MASK;
            if (b != 0) {
                regions.add(new Region(Kind.REFCOUNT_BLOCK, b, cs));
            }
        }
        regions.add(new Region(Kind.SNAPSHOT_TABLE, h.snapshotsOffset(), snapshots.sizeBytes()));
        for (SnapshotEntry sn : snapshots.entries()) {
            regions.add(new Region(Kind.INACTIVE_L1, sn.l1TableOffset(), Integer.toUnsignedLong(sn.l1Size()) * 8));
        }
        if (h.has(Feature.BITMAPS)) {
            try {
                BitmapDirectory.Extension ext = BitmapDirectory.parseExtension(h, ctx.file);
                if (ext != null) {
                    regions.add(new Region(Kind.BITMAP_DIRECTORY, ext.directoryOffset(), ext.directorySize()));
                }
            } catch (Qcow2Exception e) {
                // The bitmap check reports it.
            }
        }
        return regions;
    }

    /** The first structure the write would hit (ignoring the given kinds), or null. */
    Kind overlap(long offset, long size, EnumSet<Kind> ignore) throws IOException {
        if (size == 0) {
            return null;
        }
        int cs = ctx.clusterSize;
        if (!ignore.contains(Kind.MAIN_HEADER) && offset < cs) {
            return Kind.MAIN_HEADER;
        }
        long start = offset & ~(long) (cs - 1);
        long end = ((offset & (cs - 1)) + size + cs - 1) / cs * cs + start;
        for (Region r : regions()) {
            if (r.length() > 0 && !ignore.contains(r.kind()) && r.offset() < end && start < r.offset() + r.length()) {
                return r.kind();
            }
        }
        return null;
    }

    /**
     * Refuses a write that overlaps metadata: marks the image corrupt (as QEMU's
     * qcow2_signal_corruption) and ends the check.
     */
    void checkWrite(long offset, long size, EnumSet<Kind> ignore, String errorLine)
            throws IOException, CheckContext.Abort {
        Kind k = overlap(offset, size, ignore);
        if (k == null) {
            return;
        }
        ctx.msg("qcow2: Marking image as corrupt: Preventing invalid write on metadata (overlaps with %s); "
                + "further corruption events will be suppressed", k.qemuName);
        byte[] cur = new byte[8];
        ctx.storage.read(HeaderCodec.INCOMPATIBLE_FEATURES_OFFSET, cur, 0, 8);
        long incompat = ByteBuffer.wrap(cur).getLong();
        if (ctx.header.version() >= 3 && (incompat & Feature.CORRUPT.mask()) == 0) {
            ctx.storage.flush();
            ctx.storage.write(HeaderCodec.INCOMPATIBLE_FEATURES_OFFSET,
                    ByteBuffer.allocate(8).putLong(0, incompat | Feature.CORRUPT.mask()));
            ctx.storage.flush();
        }
        ctx.msg(errorLine);
        ctx.res.checkErrors++;
        throw new CheckContext.Abort("Input/output error");
    }
}
