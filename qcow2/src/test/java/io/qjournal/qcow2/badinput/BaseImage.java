package io.qjournal.qcow2.badinput;

import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.table.L2Entry;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.Deflater;

/**
 * A small, valid qcow2 image built by hand, so every structure sits at a known offset that a
 * bad-input case can patch. Built without the engine so the catalog does not trust the code
 * under test to make its own inputs. Layout (one structure per cluster):
 *
 * <pre>
 *  c0 header (+ optional feature name table)   c1 refcount table   c2 refcount block
 *  c3 L1 table    c4 L2 table    c5 data (0xa5)    c6 zlib-compressed cluster    c7 data (0x5c)
 *  [c8 snapshot table   c9 snapshot L1 table]   (with a snapshot)
 * </pre>
 *
 * Guest view: cluster 0 = 0xa5, cluster 1 = compressed {@link #compressedPattern}, cluster 2 =
 * zero flag (v3), cluster 3 = 0x5c, everything else zeros. Virtual size 4 MiB.
 */
public final class BaseImage {
    public static final long SIZE = 4L << 20;

    public int version = 3;
    public int clusterBits = 12;
    public boolean extendedL2;
    public boolean snapshot;
    /** Adds a feature name table entry (type 0 incompatible, bit, name) when set. */
    public String featureName;
    public int featureBit;

    // Offsets filled in by build().
    public int cs;
    public long refTable;
    public long refBlock;
    public long l1;
    public long l2;
    public long data1;
    public long compressed;
    public long data2;
    public long snapTable;
    public long snapL1;
    public int l1Size;
    public int compressedBytes;

    public BaseImage version(int v) {
        version = v;
        return this;
    }

    public BaseImage clusterBits(int v) {
        clusterBits = v;
        return this;
    }

    public BaseImage extendedL2(boolean v) {
        extendedL2 = v;
        return this;
    }

    public BaseImage snapshot(boolean v) {
        snapshot = v;
        return this;
    }

    public BaseImage feature(int bit, String name) {
        featureBit = bit;
        featureName = name;
        return this;
    }

    /** Contents of guest cluster 1 before compression: compressible but not uniform. */
    public static byte[] compressedPattern(int cs) {
        byte[] b = new byte[cs];
        for (int i = 0; i < cs; i++) {
            b[i] = (byte) (i % 251);
        }
        return b;
    }

    /** Size of one L2 entry in bytes. */
    public int l2EntryBytes() {
        return extendedL2 ? 16 : 8;
    }

    /** File offset of the L2 entry for guest cluster {@code index}. */
    public long l2EntryOffset(int index) {
        return l2 + (long) index * l2EntryBytes();
    }

    public byte[] build() {
        cs = 1 << clusterBits;
        int clusters = snapshot ? 10 : 8;
        ByteBuffer f = ByteBuffer.allocate(clusters * cs);
        refTable = cs;
        refBlock = 2L * cs;
        l1 = 3L * cs;
        l2 = 4L * cs;
        data1 = 5L * cs;
        compressed = 6L * cs;
        data2 = 7L * cs;
        snapTable = snapshot ? 8L * cs : 0;
        snapL1 = snapshot ? 9L * cs : 0;
        long perL2 = (long) (cs / l2EntryBytes()) * cs;
        l1Size = (int) ((SIZE + perL2 - 1) / perL2);

        // Header.
        f.putInt(HeaderCodec.MAGIC_OFFSET, 0x514649fb);
        f.putInt(HeaderCodec.VERSION_OFFSET, version);
        f.putInt(HeaderCodec.CLUSTER_BITS_OFFSET, clusterBits);
        f.putLong(HeaderCodec.SIZE_OFFSET, SIZE);
        f.putInt(HeaderCodec.L1_SIZE_OFFSET, l1Size);
        f.putLong(HeaderCodec.L1_TABLE_OFFSET_OFFSET, l1);
        f.putLong(HeaderCodec.REFCOUNT_TABLE_OFFSET_OFFSET, refTable);
        f.putInt(HeaderCodec.REFCOUNT_TABLE_CLUSTERS_OFFSET, 1);
        f.putInt(HeaderCodec.NB_SNAPSHOTS_OFFSET, snapshot ? 1 : 0);
        f.putLong(HeaderCodec.SNAPSHOTS_OFFSET_OFFSET, snapTable);
        if (version >= 3) {
            f.putLong(HeaderCodec.INCOMPATIBLE_FEATURES_OFFSET, extendedL2 ? 1L << 4 : 0);
            f.putInt(HeaderCodec.REFCOUNT_ORDER_OFFSET, 4);
            f.putInt(HeaderCodec.HEADER_LENGTH_OFFSET, 112);
            int pos = 112;
            if (featureName != null) {
                f.putInt(pos, HeaderExtension.FEATURE_NAME_TABLE);
                f.putInt(pos + 4, 48);
                f.put(pos + 8, (byte) 0);
                f.put(pos + 9, (byte) featureBit);
                byte[] n = featureName.getBytes(StandardCharsets.US_ASCII);
                f.put(pos + 10, n, 0, Math.min(46, n.length));
                pos += 8 + 48;
            }
            f.putLong(pos, 0); // end of extensions
        }

        // Refcounts: every cluster used once, except the shared L2 table with a snapshot.
        f.putLong((int) refTable, refBlock);
        for (int c = 0; c < clusters; c++) {
            // With a snapshot, the L2 table and the data it maps are referenced twice.
            int rc = snapshot && c >= 4 && c <= 7 ? 2 : 1;
            f.putShort((int) refBlock + 2 * c, (short) rc);
        }

        // L1: the L2 table is shared with the snapshot, so it must not carry COPIED then.
        f.putLong((int) l1, l2 | (snapshot ? 0 : L2Entry.COPIED));

        // L2 entries and data.
        byte[] plain = compressedPattern(cs);
        byte[] comp = deflate(plain);
        compressedBytes = comp.length;
        int sectors = (comp.length + 511) / 512;
        long copied = snapshot ? 0 : L2Entry.COPIED;
        putL2(f, 0, data1 | copied, extendedL2 ? 0xffffffffL : 0);
        putL2(f, 1, L2Entry.compressedEntry(compressed, sectors, clusterBits), 0);
        if (version >= 3) {
            putL2(f, 2, extendedL2 ? 0 : L2Entry.ZERO, extendedL2 ? 0xffffffffL << 32 : 0);
        }
        putL2(f, 3, data2 | copied, extendedL2 ? 0xffffffffL : 0);
        fill(f, data1, cs, (byte) 0xa5);
        f.put((int) compressed, comp);
        fill(f, data2, cs, (byte) 0x5c);

        if (snapshot) {
            f.putLong((int) snapL1, l2);
            int p = (int) snapTable;
            byte[] id = "1".getBytes(StandardCharsets.US_ASCII);
            byte[] name = "snap1".getBytes(StandardCharsets.US_ASCII);
            f.putLong(p, snapL1);
            f.putInt(p + 8, l1Size);
            f.putShort(p + 12, (short) id.length);
            f.putShort(p + 14, (short) name.length);
            f.putInt(p + 16, 1_700_000_000);
            f.putInt(p + 20, 0);
            f.putLong(p + 24, 0);
            f.putInt(p + 32, 0);
            f.putInt(p + 36, 24);
            f.putLong(p + 40, 0);          // vm_state_size_large
            f.putLong(p + 48, SIZE);       // disk_size
            f.putLong(p + 56, -1L);        // icount: not recorded
            f.put(p + 64, id);
            f.put(p + 64 + id.length, name);
        }
        return f.array();
    }

    /** File offset of snapshot entry field {@code field} (0 = l1_table_offset). */
    public long snapField(int field) {
        return snapTable + field;
    }

    private void putL2(ByteBuffer f, int index, long entry, long bitmap) {
        int off = (int) l2EntryOffset(index);
        f.putLong(off, entry);
        if (extendedL2) {
            f.putLong(off + 8, bitmap);
        }
    }

    private static void fill(ByteBuffer f, long off, int len, byte v) {
        byte[] b = new byte[len];
        Arrays.fill(b, v);
        f.put((int) off, b);
    }

    /** QEMU's zlib clusters are raw deflate streams with a 4 KiB window (windowBits -12). */
    static byte[] deflate(byte[] in) {
        Deflater d = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
        d.setInput(in);
        d.finish();
        byte[] out = new byte[in.length * 2 + 64];
        int n = d.deflate(out);
        d.end();
        return Arrays.copyOf(out, n);
    }

    /** The guest contents of this base image. */
    public byte[] expectedGuest() {
        byte[] g = new byte[(int) SIZE];
        int c = 1 << clusterBits;
        Arrays.fill(g, 0, c, (byte) 0xa5);
        System.arraycopy(compressedPattern(c), 0, g, c, c);
        Arrays.fill(g, 3 * c, 4 * c, (byte) 0x5c);
        return g;
    }
}
