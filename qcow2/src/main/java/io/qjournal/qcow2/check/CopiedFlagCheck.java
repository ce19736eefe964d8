package io.qjournal.qcow2.check;

import io.qjournal.qcow2.table.BigEndianLongs;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.EnumSet;

/**
 * QEMU's check_oflag_copied: in the active tables, COPIED must be set exactly when the
 * stored refcount of the L2 table or data cluster is 1. Runs after the refcounts have been
 * compared (and perhaps repaired), against the stored refcounts.
 */
final class CopiedFlagCheck {
    private CopiedFlagCheck() {
    }

    static void run(CheckContext ctx, StoredRefcounts stored, long l1Offset, int l1Size)
            throws IOException, CheckContext.Abort {
        CheckContext.Counters res = ctx.res;
        boolean repair;
        if (ctx.mode.fixErrors()) {
            repair = true;
        } else if (ctx.mode.fixLeaks()) {
            // Only safe when the refcounts are known to be right by now.
            repair = res.checkErrors == 0 && res.corruptions == 0 && res.leaks == 0;
        } else {
            repair = false;
        }
        long[] l1 = TableWalker.readTable(ctx, l1Offset, l1Size);
        int step = ctx.extendedL2 ? 16 : 8;
        byte[] table = new byte[ctx.clusterSize];
        long[] entries = new long[ctx.l2Entries * (step / 8)];
        for (int i = 0; i < l1.length; i++) {
            long l1Entry = l1[i];
            long l2Offset = l1Entry & TableWalker.L1E_OFFSET_MASK;
            if (l2Offset == 0) {
                continue;
            }
            long refcount;
            try {
                refcount = stored.get(l2Offset >>> ctx.clusterBits);
            } catch (StoredRefcounts.Unreadable e) {
                // Already reported by the refcount comparison.
                continue;
            }
            if ((refcount == 1) != ((l1Entry & L2Entry.COPIED) != 0)) {
                res.corruptions++;
                ctx.msg("%s OFLAG_COPIED L2 cluster: l1_index=%d l1_entry=%x refcount=%s", ctx.prefix(repair), i,
                        l1Entry, Long.toUnsignedString(refcount));
                if (repair) {
                    long fixed = refcount == 1 ? l1Entry | L2Entry.COPIED : l1Entry & ~L2Entry.COPIED;
                    try {
                        ctx.storage.write(l1Offset + 8L * i, ByteBuffer.allocate(8).putLong(0, fixed));
                    } catch (IOException e) {
                        res.checkErrors++;
                        ctx.msg("ERROR: Could not write L1 entry: %s", e.getMessage());
                        return;
                    }
                    res.corruptions--;
                    res.corruptionsFixed++;
                }
            }
            TableWalker.readCluster(ctx, l2Offset, table);
            BigEndianLongs.decode(table, 0, entries, entries.length);
            ByteBuffer b = ByteBuffer.wrap(table);
            int dirty = 0;
            for (int j = 0; j < ctx.l2Entries; j++) {
                long e = entries[j * (step / 8)];
                if (e == 0) {
                    continue;
                }
                TableWalker.Type type = TableWalker.type(e, ctx.extendedL2, ctx.dataFile);
                if (type != TableWalker.Type.NORMAL && type != TableWalker.Type.ZERO_ALLOC) {
                    continue;
                }
                long rc;
                if (ctx.dataFile) {
                    rc = 1;
                } else {
                    try {
                        rc = stored.get((e & TableWalker.L2E_OFFSET_MASK) >>> ctx.clusterBits);
                    } catch (StoredRefcounts.Unreadable ex) {
                        continue;
                    }
                }
                if ((rc == 1) != ((e & L2Entry.COPIED) != 0)) {
                    res.corruptions++;
                    ctx.msg("%s OFLAG_COPIED data cluster: l2_entry=%x refcount=%s", ctx.prefix(repair), e,
                            Long.toUnsignedString(rc));
                    if (repair) {
                        b.putLong(j * step, rc == 1 ? e | L2Entry.COPIED : e & ~L2Entry.COPIED);
                        dirty++;
                    }
                }
            }
            if (dirty > 0) {
                ctx.guard.checkWrite(l2Offset, ctx.clusterSize, EnumSet.of(OverlapGuard.Kind.ACTIVE_L2),
                        "ERROR: Could not write L2 table; metadata overlap check failed: Input/output error");
                try {
                    ctx.storage.write(l2Offset, table, 0, table.length);
                } catch (IOException e) {
                    res.checkErrors++;
                    ctx.msg("ERROR: Could not write L2 table: %s", e.getMessage());
                    return;
                }
                res.corruptions -= dirty;
                res.corruptionsFixed += dirty;
            }
        }
    }
}
