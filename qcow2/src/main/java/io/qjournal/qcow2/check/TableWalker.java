package io.qjournal.qcow2.check;

import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.table.BigEndianLongs;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.EnumSet;

/**
 * Counts the references of one L1 table, its L2 tables and their data clusters, checking
 * each entry on the way (QEMU's check_refcounts_l1 / check_refcounts_l2).
 */
final class TableWalker {
    static final long L1E_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
    static final long L1E_RESERVED_MASK = 0x7f00_0000_0000_01ffL;
    static final long L2E_OFFSET_MASK = L2Entry.OFFSET_MASK;
    static final long L2E_STD_RESERVED_MASK = L2Entry.STANDARD_RESERVED_MASK;
    static final long ALL_ALLOC = 0xffff_ffffL;
    static final long ALL_ZEROES = 0xffff_ffff_0000_0000L;
    /** The bits whose presence makes a standard entry other than plain allocated data. */
    private static final long PLAIN_DATA_MASK = L2Entry.COMPRESSED | L2Entry.ZERO | L2E_STD_RESERVED_MASK;

    enum Type { UNALLOCATED, ZERO_PLAIN, ZERO_ALLOC, NORMAL, COMPRESSED }

    private final CheckContext ctx;
    private final boolean fixErrors;
    private final RefcountArray imrt;
    private long nextContiguous;
    private byte[] table;
    private long[] entries;

    TableWalker(CheckContext ctx, RefcountArray imrt) {
        this.ctx = ctx;
        this.fixErrors = ctx.mode.fixErrors();
        this.imrt = imrt;
    }

    /** QEMU's qcow2_get_cluster_type. */
    static Type type(long entry, boolean extendedL2, boolean dataFile) {
        if ((entry & L2Entry.COMPRESSED) != 0) {
            return Type.COMPRESSED;
        }
        if ((entry & L2Entry.ZERO) != 0 && !extendedL2) {
            return (entry & L2E_OFFSET_MASK) != 0 ? Type.ZERO_ALLOC : Type.ZERO_PLAIN;
        }
        if ((entry & L2E_OFFSET_MASK) == 0) {
            return dataFile && (entry & L2Entry.COPIED) != 0 ? Type.NORMAL : Type.UNALLOCATED;
        }
        return Type.NORMAL;
    }

    /** Reads an L1 table; entries past the end of the file are zero, so only the file bounds the work. */
    static long[] readTable(CheckContext ctx, long offset, int entries) throws IOException {
        long fileSize = ctx.fileSize();
        long avail = offset >= fileSize ? 0 : Math.min((long) entries, (fileSize - offset + 7) / 8);
        long[] t = new long[(int) avail];
        if (avail > 0) {
            ByteBuffer b = ByteBuffer.allocate((int) avail * 8);
            ctx.storage.read(offset, b);
            b.flip();
            t = BigEndianLongs.decode(b, t.length);
        }
        return t;
    }

    void checkL1(long l1Offset, int l1Size, boolean fragInfo, boolean active)
            throws IOException, CheckContext.Abort {
        if (l1Size == 0) {
            return;
        }
        ctx.inc(imrt, l1Offset, (long) l1Size * 8);
        long[] l1 = readTable(ctx, l1Offset, l1Size);
        for (long e : l1) {
            if (e == 0) {
                continue;
            }
            if ((e & L1E_RESERVED_MASK) != 0) {
                ctx.msg("ERROR found L1 entry with reserved bits set: %x", e);
                ctx.res.corruptions++;
            }
            long l2Offset = e & L1E_OFFSET_MASK;
            ctx.inc(imrt, l2Offset, ctx.clusterSize);
            if (ctx.offsetIntoCluster(l2Offset) != 0) {
                ctx.msg("ERROR l2_offset=%x: Table is not cluster aligned; L1 entry corrupted", l2Offset);
                ctx.res.corruptions++;
            }
            checkL2(l2Offset, fragInfo, active);
        }
    }

    /** Reads one table cluster; what lies past the end of the file reads as zeros without touching the store. */
    static void readCluster(CheckContext ctx, long offset, byte[] buf) throws IOException {
        long fileSize = ctx.fileSize();
        int n = offset >= fileSize ? 0 : (int) Math.min(buf.length, fileSize - offset);
        java.util.Arrays.fill(buf, n, buf.length, (byte) 0);
        if (n > 0) {
            ctx.storage.read(offset, buf, 0, n);
        }
    }

    private void checkL2(long l2Offset, boolean fragInfo, boolean active)
            throws IOException, CheckContext.Abort {
        if (table == null) {
            table = new byte[ctx.clusterSize];
        }
        readCluster(ctx, l2Offset, table);
        int step = ctx.extendedL2 ? 2 : 1;
        if (entries == null) {
            entries = new long[ctx.l2Entries * step];
        }
        BigEndianLongs.decode(table, 0, entries, entries.length);
        nextContiguous = 0;
        long fileSize = ctx.fileSize();
        for (int i = 0; i < ctx.l2Entries; i++) {
            long entry = entries[i * step];
            long bitmap = ctx.extendedL2 ? entries[i * step + 1] : 0;
            if ((entry | bitmap) == 0) {
                // Unallocated with an empty bitmap: nothing to count or report (most of a sparse table).
                continue;
            }
            if (!ctx.extendedL2 && (entry & PLAIN_DATA_MASK) == 0 && (entry & L2E_OFFSET_MASK) != 0) {
                // The common case, a standard data cluster without flags to look at: what
                // type() and the reserved-bits test below would conclude, without the calls.
                allocated(l2Offset, i, entry, 0, fragInfo, fileSize, active);
                continue;
            }
            Type type = type(entry, ctx.extendedL2, ctx.dataFile);
            if (type != Type.COMPRESSED && (entry & L2E_STD_RESERVED_MASK) != 0) {
                ctx.msg("ERROR found l2 entry with reserved bits set: %x", entry);
                ctx.res.corruptions++;
            }
            switch (type) {
                case COMPRESSED:
                    compressed(l2Offset, i, entry, bitmap, fragInfo, fileSize, active);
                    break;
                case ZERO_ALLOC:
                case NORMAL:
                    allocated(l2Offset, i, entry, bitmap, fragInfo, fileSize, active);
                    break;
                case ZERO_PLAIN:
                    break;
                default:
                    if ((bitmap & ALL_ALLOC) != 0) {
                        ctx.res.corruptions++;
                        ctx.msg("ERROR: Unallocated cluster has non-zero subcluster allocation map");
                    }
            }
        }
    }

    private void compressed(long l2Offset, int i, long entry, long bitmap, boolean fragInfo, long fileSize,
            boolean active) throws IOException, CheckContext.Abort {
        int x = L2Entry.compressedOffsetBits(ctx.clusterBits);
        long offsetMask = (1L << x) - 1;
        if ((entry & L2Entry.COPIED) != 0) {
            ctx.msg("ERROR: coffset=0x%x: copied flag must never be set for compressed clusters", entry & offsetMask);
            entry &= ~L2Entry.COPIED;
            ctx.res.corruptions++;
        }
        if (ctx.dataFile) {
            ctx.msg("ERROR compressed cluster %d with data file, entry=0x%x", i, entry);
            ctx.res.corruptions++;
            return;
        }
        if (bitmap != 0) {
            ctx.msg("ERROR compressed cluster %d with non-zero subcluster allocation bitmap, entry=0x%x", i, entry);
            ctx.res.corruptions++;
            return;
        }
        long coffset = entry & offsetMask;
        long csize = (long) L2Entry.compressedSectors(entry, ctx.clusterBits) * 512 - (coffset & 511);
        if (ctx.mode.fixErrors() && pastEnd(coffset, csize, fileSize)) {
            ctx.res.corruptions++;
            ctx.msg("Repairing compressed cluster at offset=%x: it lies outside the image; L2 entry corrupted.", coffset);
            zeroEntry(l2Offset, i, bitmap, true, active);
            return;
        }
        ctx.inc(imrt, coffset, csize);
        if (fragInfo) {
            ctx.res.allocated++;
            ctx.res.compressed++;
            // Compressed clusters share sectors, so they are fragmented by nature.
            ctx.res.fragmented++;
        }
    }

    private void allocated(long l2Offset, int i, long entry, long bitmap, boolean fragInfo, long fileSize,
            boolean active) throws IOException, CheckContext.Abort {
        long offset = entry & L2E_OFFSET_MASK;
        long inCluster = offset & (ctx.clusterSize - 1);
        if (((bitmap >>> 32) & bitmap) != 0) {
            ctx.res.corruptions++;
            ctx.msg("ERROR offset=%x: Allocated cluster has corrupted subcluster allocation bitmap", offset);
        }
        if (inCluster != 0) {
            ctx.res.corruptions++;
            boolean containsData = ctx.extendedL2 ? (bitmap & ALL_ALLOC) != 0 : (entry & L2Entry.ZERO) == 0;
            if (!containsData) {
                ctx.msg("%s offset=%x: Preallocated cluster is not properly aligned; L2 entry corrupted.",
                        ctx.prefix(ctx.mode.fixErrors()), offset);
                if (ctx.mode.fixErrors()) {
                    zeroEntry(l2Offset, i, bitmap, false, active);
                    // The entry no longer references the cluster.
                    return;
                }
            } else {
                ctx.msg("ERROR offset=%x: Data cluster is not properly aligned; L2 entry corrupted.", offset);
            }
        } else if (fixErrors && !ctx.dataFile && pastEnd(offset, ctx.clusterSize, fileSize)) {
            // Beyond QEMU 7.2, which only reports this: the data is gone, so the entry becomes a zero cluster.
            ctx.res.corruptions++;
            ctx.msg("Repairing offset=%x: Cluster lies outside the image; L2 entry corrupted.", offset);
            zeroEntry(l2Offset, i, bitmap, false, active);
            return;
        }
        if (fragInfo) {
            ctx.res.allocated++;
            if (nextContiguous != 0 && offset != nextContiguous) {
                ctx.res.fragmented++;
            }
            nextContiguous = offset + ctx.clusterSize;
        }
        if (!ctx.dataFile) {
            if (inCluster == 0 && offset < fileSize) {
                ctx.incCluster(imrt, offset);
            } else {
                ctx.inc(imrt, offset, ctx.clusterSize);
            }
        }
    }

    /** The same test as {@link CheckContext#inc}: reaching a cluster or more past the end of the file. */
    private boolean pastEnd(long offset, long size, long fileSize) {
        return offset > HeaderCodec.MAX_OFFSET || offset + size - fileSize >= ctx.clusterSize;
    }

    /**
     * QEMU's fix_l2_entry_by_zero: the entry becomes a zero cluster (v3), or its allocated
     * subclusters become zero ones (extended L2). Version 2 has no zero flag, so there the
     * entry becomes unallocated. The counters move from corruptions to corruptions fixed.
     */
    private void zeroEntry(long l2Offset, int i, long bitmap, boolean wholeCluster, boolean active)
            throws IOException, CheckContext.Abort {
        ByteBuffer b;
        if (ctx.extendedL2) {
            long nb = wholeCluster ? ALL_ZEROES : ((bitmap | (bitmap << 32)) & ALL_ZEROES);
            b = ByteBuffer.allocate(16).putLong(0, 0).putLong(8, nb);
        } else {
            b = ByteBuffer.allocate(8).putLong(0, ctx.header.version() >= 3 ? L2Entry.ZERO : 0);
        }
        long at = l2Offset + (long) i * b.capacity();
        ctx.guard.checkWrite(at, b.capacity(), active ? EnumSet.of(OverlapGuard.Kind.ACTIVE_L2)
                : EnumSet.noneOf(OverlapGuard.Kind.class), "ERROR: Overlap check failed");
        try {
            ctx.storage.write(at, b);
        } catch (IOException e) {
            ctx.msg("ERROR: Failed to overwrite L2 table entry: %s", e.getMessage());
            ctx.res.checkErrors++;
            return;
        }
        ctx.res.corruptions--;
        ctx.res.corruptionsFixed++;
    }
}
