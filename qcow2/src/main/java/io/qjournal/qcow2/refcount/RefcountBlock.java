package io.qjournal.qcow2.refcount;

/**
 * Reads and writes entries of a refcount block of width 2^order bits (order 0..6) packed
 * big-endian in a byte array, exactly as QEMU's get_refcount_ro* / set_refcount_ro* do:
 * sub-byte widths pack the lowest index into the least significant bits of each byte.
 */
public final class RefcountBlock {
    private RefcountBlock() {
    }

    /** Entries a block of {@code clusterSize} bytes holds. */
    public static int entries(int clusterSize, int order) {
        return (int) (((long) clusterSize * 8) >> order);
    }

    public static long maxValue(int order) {
        return order == 6 ? -1L : (1L << (1 << order)) - 1;
    }

    public static long get(byte[] block, int order, int index) {
        switch (order) {
            case 0: case 1: case 2: {
                int bits = 1 << order;
                int perByte = 8 / bits;
                int shift = (index % perByte) * bits;
                return (block[index / perByte] >>> shift) & ((1 << bits) - 1);
            }
            case 3:
                return block[index] & 0xffL;
            case 4:
                return ((block[2 * index] & 0xffL) << 8) | (block[2 * index + 1] & 0xffL);
            case 5: {
                int p = 4 * index;
                return ((block[p] & 0xffL) << 24) | ((block[p + 1] & 0xffL) << 16)
                        | ((block[p + 2] & 0xffL) << 8) | (block[p + 3] & 0xffL);
            }
            default: {
                int p = 8 * index;
                long v = 0;
                for (int i = 0; i < 8; i++) {
                    v = (v << 8) | (block[p + i] & 0xffL);
                }
                return v;
            }
        }
    }

    /** Sets an entry; the caller has checked {@code value <= maxValue(order)} (unsigned). */
    public static void set(byte[] block, int order, int index, long value) {
        switch (order) {
            case 0: case 1: case 2: {
                int bits = 1 << order;
                int perByte = 8 / bits;
                int shift = (index % perByte) * bits;
                int mask = ((1 << bits) - 1) << shift;
                int b = block[index / perByte] & ~mask;
                block[index / perByte] = (byte) (b | (((int) value << shift) & mask));
                return;
            }
            case 3:
                block[index] = (byte) value;
                return;
            case 4:
                block[2 * index] = (byte) (value >>> 8);
                block[2 * index + 1] = (byte) value;
                return;
            case 5: {
                int p = 4 * index;
                block[p] = (byte) (value >>> 24);
                block[p + 1] = (byte) (value >>> 16);
                block[p + 2] = (byte) (value >>> 8);
                block[p + 3] = (byte) value;
                return;
            }
            default: {
                int p = 8 * index;
                for (int i = 7; i >= 0; i--) {
                    block[p + i] = (byte) value;
                    value >>>= 8;
                }
            }
        }
    }
}
