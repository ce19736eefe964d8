package io.qjournal.qcow2.check;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.journal.JournalRecovery;
import io.qjournal.qcow2.snapshot.SnapshotEntry;
import io.qjournal.qcow2.snapshot.SnapshotTable;
import io.qjournal.qcow2.storage.Extent;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The qcow2 consistency checker and repairer: what {@code qemu-img check [-r leaks|all]}
 * does, on the raw on-disk structures of a {@link Storage} (no open image needed, so it also
 * serves offline repair at open time and batch sweeps). Counts, messages and exit codes follow
 * QEMU 7.2; see docs/format/qcow2.md for the structures.
 *
 * <p>Deviations from QEMU 7.2: with {@link RepairMode#ALL} an L2 entry whose cluster lies
 * wholly past the end of the file becomes a zero cluster (QEMU only reports it); the snapshot
 * table is rewritten only when the refcounts are consistent (QEMU allocates regardless); an
 * image with more than 65536 snapshots is refused as unreadable instead of trimmed.
 */
public final class ImageChecker {
    private ImageChecker() {
    }

    public static CheckResult check(Storage storage, RepairMode mode) throws IOException {
        return check(storage, mode, List.of());
    }

    /**
     * Checks (and repairs, as the mode allows) an image.
     *
     * @param extraReferencedRanges byte ranges {offset, length} that belong to the image although
     *     no qcow2 structure points at them; they count as referenced once. The area of a valid
     *     journal is added automatically (passing it too is harmless).
     * @throws Qcow2Exception when the header cannot be read (the image cannot be opened at all)
     */
    public static CheckResult check(Storage storage, RepairMode mode, List<Extent> extraReferencedRanges)
            throws IOException {
        if (mode != RepairMode.NONE && storage.isReadOnly()) {
            throw new Qcow2Exception(storage.name(), "cannot repair an image opened read-only");
        }
        // A dirty journal holds metadata not yet written home: check the image as replay leaves it.
        storage = JournalRecovery.consistentView(storage, mode != RepairMode.NONE);
        Header header = readHeader(storage);
        List<Extent> extraRanges = new ArrayList<>(extraReferencedRanges);
        for (Extent j : JournalRecovery.journalRanges(header, storage.name())) {
            // A caller that names the journal area itself must not make it count twice.
            if (!extraRanges.contains(j)) {
                extraRanges.add(j);
            }
        }
        List<Extent> extra = validateRanges(storage.name(), extraRanges);
        List<String> messages = new ArrayList<>();
        Pass first = runPass(storage, header, mode, extra, messages);
        if (first.completed && (first.res.corruptionsFixed > 0 || first.res.leaksFixed > 0)) {
            // As qemu-img: report what remains from a fresh read-only pass over the repaired image.
            Pass second = runPass(storage, readHeader(storage), RepairMode.NONE, extra, messages);
            second.res.corruptionsFixed = first.res.corruptionsFixed;
            second.res.leaksFixed = first.res.leaksFixed;
            return second.result(storage.name(), header, messages);
        }
        return first.result(storage.name(), header, messages);
    }

    /** Reads and decodes the header cluster, refusing what QEMU would refuse to open. */
    static Header readHeader(Storage storage) throws IOException {
        Header h = HeaderCodec.read(storage);
        long unknown = h.incompatibleFeatures() & ~Feature.KNOWN_INCOMPATIBLE;
        if (unknown != 0) {
            throw new Qcow2Exception(storage.name(), "unsupported incompatible features 0x" + Long.toHexString(unknown));
        }
        return h;
    }

    private static List<Extent> validateRanges(String file, List<Extent> ranges) throws Qcow2Exception {
        List<Extent> out = new ArrayList<>();
        for (Extent r : ranges) {
            if (r == null || r.offset() < 0 || r.length() < 0 || r.offset() > HeaderCodec.MAX_OFFSET
                    || r.length() > HeaderCodec.MAX_OFFSET - r.offset()) {
                throw new Qcow2Exception(file, "invalid extra referenced range");
            }
            out.add(r);
        }
        return out;
    }

    /** One run of QEMU's qcow2_co_check_locked. */
    private static final class Pass {
        final CheckContext ctx;
        final CheckContext.Counters res;
        boolean completed;
        long imageEndOffset;

        Pass(CheckContext ctx) {
            this.ctx = ctx;
            this.res = ctx.res;
        }

        CheckResult result(String file, Header h, List<String> messages) {
            ctx.finishMessages();
            if (!completed) {
                // qemu-img prints no report for a check that failed, only the error: exit code 1.
                res.checkErrors = Math.max(1, res.checkErrors);
            }
            long total = (((h.size() + 511) & ~511L) + h.clusterSize() - 1) >>> h.clusterBits();
            return new CheckResult(file, res.checkErrors, completed ? imageEndOffset : 0, res.corruptions,
                    res.leaks, res.corruptionsFixed, res.leaksFixed, total, res.allocated, res.fragmented,
                    res.compressed, messages);
        }
    }

    private static Pass runPass(Storage storage, Header header, RepairMode mode, List<Extent> extra,
            List<String> messages) throws IOException {
        CheckContext ctx = new CheckContext(storage, header, mode, messages);
        Pass pass = new Pass(ctx);
        SnapshotTable.Parsed snapshots;
        try {
            snapshots = SnapshotTable.readUnvalidatedL1(storage, header, mode.fixErrors());
        } catch (Qcow2Exception e) {
            ctx.res.checkErrors++;
            ctx.msg("ERROR failed to read the snapshot table: %s", e.getMessage());
            messages.add("Check failed: Invalid argument");
            return pass;
        }
        if (snapshots.snapshotsDiscarded() > 0) {
            // As QEMU: the header is fixed at once so that the refcount check sees the shorter table.
            ctx.msg("Discarding %d overhanging snapshots (snapshot table is too big)", snapshots.snapshotsDiscarded());
            storage.write(HeaderCodec.NB_SNAPSHOTS_OFFSET, ByteBuffer.allocate(4).putInt(0, snapshots.entries().size()));
            storage.flush();
            ctx.res.corruptionsFixed += snapshots.snapshotsDiscarded();
        }
        long snapshotCorruptions = snapshots.extraDataDropped();
        if (snapshots.extraDataDropped() > 0) {
            ctx.msg("Discarding too much extra metadata in %d snapshot table entries (more than %d bytes)",
                    snapshots.extraDataDropped(), SnapshotTable.MAX_EXTRA_DATA);
        }
        if (header.version() >= 3) {
            List<SnapshotEntry> entries = snapshots.entries();
            for (int i = 0; i < entries.size(); i++) {
                if (entries.get(i).extraData().length < SnapshotTable.V3_MIN_EXTRA_DATA_SIZE) {
                    snapshotCorruptions++;
                    ctx.msg("%s snapshot table entry %d is incomplete", ctx.prefix(mode.fixErrors()), i);
                }
            }
        }
        RefcountChecker rc = new RefcountChecker(ctx, snapshots, extra);
        try {
            rc.run();
        } catch (CheckContext.Abort e) {
            ctx.res.corruptions += snapshotCorruptions;
            messages.add("Check failed: " + e.getMessage());
            return pass;
        }
        if (snapshotCorruptions > 0 && mode.fixErrors() && ctx.res.checkErrors == 0 && ctx.res.corruptions == 0
                && SnapshotTableRepair.rewrite(ctx, rc.stored(), snapshots.entries(), header.snapshotsOffset(),
                        snapshots.sizeBytes())) {
            ctx.res.corruptionsFixed += snapshotCorruptions;
        } else {
            ctx.res.corruptions += snapshotCorruptions;
        }
        pass.imageEndOffset = rc.imageEndOffset;
        pass.completed = true;
        if (mode != RepairMode.NONE && ctx.res.checkErrors == 0 && ctx.res.corruptions == 0) {
            markCleanAndConsistent(storage, header);
        }
        return pass;
    }

    /** QEMU's qcow2_mark_clean + qcow2_mark_consistent after a successful repair. */
    private static void markCleanAndConsistent(Storage storage, Header header) throws IOException {
        if (header.version() < 3) {
            return;
        }
        long bits = Feature.DIRTY.mask() | Feature.CORRUPT.mask();
        byte[] cur = new byte[8];
        storage.read(HeaderCodec.INCOMPATIBLE_FEATURES_OFFSET, cur, 0, 8);
        long incompat = ByteBuffer.wrap(cur).getLong();
        if ((incompat & bits) != 0) {
            // Everything the repair wrote must be durable before the image claims to be clean.
            storage.flush();
            storage.write(HeaderCodec.INCOMPATIBLE_FEATURES_OFFSET, ByteBuffer.allocate(8).putLong(0, incompat & ~bits));
            storage.flush();
        }
    }
}
