package io.qjournal.qcow2.check;

import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.snapshot.SnapshotEntry;
import io.qjournal.qcow2.snapshot.SnapshotTable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * QEMU's qcow2_check_fix_snapshot_table: after the refcounts are known to be right, writes
 * the salvaged snapshot table to newly allocated clusters (complete extra data for every
 * entry), switches the header to it and frees the old table's clusters.
 *
 * <p>Ordering: new clusters' refcounts, then the new table, are durable before the header
 * points at it; the old clusters are freed only after the header switch is durable.
 */
final class SnapshotTableRepair {
    private SnapshotTableRepair() {
    }

    /** QEMU fills absent extra data from the current disk: disk size, no icount. */
    static List<SnapshotEntry> completed(List<SnapshotEntry> in, long virtualSize) {
        List<SnapshotEntry> out = new ArrayList<>();
        long diskSize = (virtualSize + 511) & ~511L;
        for (SnapshotEntry e : in) {
            byte[] extra = e.extraData();
            if (extra.length < SnapshotTable.KNOWN_EXTRA_DATA_SIZE) {
                extra = new byte[0];
            }
            out.add(new SnapshotEntry(e.l1TableOffset(), e.l1Size(), e.id(), e.name(), e.dateSec(), e.dateNsec(),
                    e.vmClockNsec(), e.vmStateSize(), e.diskSize() < 0 ? diskSize : e.diskSize(), e.icount(), extra));
        }
        return out;
    }

    /** Rewrites the table; false (with a message and a check error) when that was not possible. */
    static boolean rewrite(CheckContext ctx, StoredRefcounts stored, List<SnapshotEntry> entries, long oldOffset,
            long oldSize) throws IOException {
        byte[] table = SnapshotTable.encode(completed(entries, ctx.header.size()));
        long newOffset = 0;
        if (table.length > 0) {
            int n = (int) ctx.sizeToClusters(table.length);
            long first = findFree(ctx, stored, n);
            if (first < 0) {
                ctx.res.checkErrors++;
                ctx.msg("ERROR failed to update snapshot table: no free clusters covered by the refcount table");
                return false;
            }
            for (long c = first; c < first + n; c++) {
                stored.set(c, 1);
            }
            ctx.storage.flush();
            newOffset = first << ctx.clusterBits;
            ctx.storage.write(newOffset, table, 0, table.length);
            ctx.storage.flush();
        }
        ByteBuffer hdr = ByteBuffer.allocate(12).putInt(0, entries.size()).putLong(4, newOffset);
        ctx.storage.write(HeaderCodec.NB_SNAPSHOTS_OFFSET, hdr);
        ctx.storage.flush();
        if (oldSize > 0 && oldOffset > 0) {
            long start = oldOffset >>> ctx.clusterBits;
            long end = (oldOffset + oldSize - 1) >>> ctx.clusterBits;
            for (long c = start; c <= end; c++) {
                try {
                    long rc = stored.get(c);
                    if (rc > 0) {
                        stored.set(c, rc - 1);
                    }
                } catch (StoredRefcounts.Unreadable e) {
                    // The refcount check already reported it; leave the cluster alone.
                }
            }
            ctx.storage.flush();
        }
        return true;
    }

    /** First run of {@code n} clusters with stored refcount 0 whose refcount blocks exist. */
    private static long findFree(CheckContext ctx, StoredRefcounts stored, int n) throws IOException {
        long limit = stored.coveredClusters();
        long run = 0;
        for (long c = 1; c < limit; c++) {
            if (!stored.hasBlock(c)) {
                // Skip the whole range of the missing block.
                c = (((c >>> stored.blockBits()) + 1) << stored.blockBits()) - 1;
                run = 0;
                continue;
            }
            long rc;
            try {
                rc = stored.get(c);
            } catch (StoredRefcounts.Unreadable e) {
                rc = -1;
            }
            run = rc == 0 ? run + 1 : 0;
            if (run == n) {
                return c - n + 1;
            }
        }
        return -1;
    }
}
