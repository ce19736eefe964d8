package io.qjournal.qcow2.table;

/**
 * Bit layout of L1 and L2 entries (QEMU's QCOW_OFLAG_* and L2E_OFFSET_MASK).
 *
 * <pre>
 *  standard L2 entry:  63 COPIED | 62 COMPRESSED=0 | 61..56 reserved | 55..9 host offset | 8..1 reserved | 0 ZERO
 *  compressed entry:   63 COPIED=0 | 62 COMPRESSED=1 | 61..x sectors-1 | x-1..0 host byte offset  (x = 62 - (cluster_bits - 8))
 *  L1 entry:           63 COPIED | 62..56 reserved | 55..9 L2 table offset | 8..0 reserved
 * </pre>
 */
public final class L2Entry {
    public static final long COPIED = 1L << 63;
    public static final long COMPRESSED = 1L << 62;
    public static final long ZERO = 1L;
    public static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
    /** Bits that must be zero in a standard entry (reserved), so corruption can be spotted. */
    public static final long STANDARD_RESERVED_MASK = 0x3f00_0000_0000_01feL;
    public static final long L1_RESERVED_MASK = 0x7f00_0000_0000_01ffL;

    public enum Kind { UNALLOCATED, ZERO_PLAIN, ZERO_ALLOC, NORMAL, COMPRESSED }

    private L2Entry() {
    }

    public static long hostOffset(long entry) {
        return entry & OFFSET_MASK;
    }

    public static boolean isCompressed(long entry) {
        return (entry & COMPRESSED) != 0;
    }

    public static boolean isCopied(long entry) {
        return (entry & COPIED) != 0;
    }

    /** Kind of a standard (non-extended) entry; for extended L2 the bitmap refines it. */
    public static Kind kind(long entry) {
        if (isCompressed(entry)) {
            return Kind.COMPRESSED;
        }
        boolean zero = (entry & ZERO) != 0;
        long off = hostOffset(entry);
        if (zero) {
            return off == 0 ? Kind.ZERO_PLAIN : Kind.ZERO_ALLOC;
        }
        return off == 0 ? Kind.UNALLOCATED : Kind.NORMAL;
    }

    /** Bit position where a compressed entry's sector count starts. */
    public static int compressedOffsetBits(int clusterBits) {
        return 62 - (clusterBits - 8);
    }

    public static long compressedHostOffset(long entry, int clusterBits) {
        return entry & ((1L << compressedOffsetBits(clusterBits)) - 1);
    }

    /** Bytes the compressed data may span: whole 512-byte sectors, less the offset into the first. */
    public static int compressedSectors(long entry, int clusterBits) {
        int x = compressedOffsetBits(clusterBits);
        return (int) (((entry & ~COMPRESSED) >>> x) & ((1L << (62 - x)) - 1)) + 1;
    }

    public static long compressedEntry(long hostOffset, int sectors, int clusterBits) {
        int x = compressedOffsetBits(clusterBits);
        return COMPRESSED | ((long) (sectors - 1) << x) | hostOffset;
    }

    /** Extended L2 bitmap: bit i allocation of subcluster i, bit 32+i reads-as-zero. */
    public static int allocBits(long bitmap) {
        return (int) bitmap;
    }

    public static int zeroBits(long bitmap) {
        return (int) (bitmap >>> 32);
    }

    public static long bitmap(int alloc, int zero) {
        return (Integer.toUnsignedLong(zero) << 32) | Integer.toUnsignedLong(alloc);
    }
}
