package io.qjournal.qcow2.check;

import io.qjournal.qcow2.refcount.RefcountBlock;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Test helper: reads and patches raw qcow2 structures to build damaged images. */
final class ImagePatcher {
    final Storage s;

    ImagePatcher(Storage s) {
        this.s = s;
    }

    long u64(long off) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8);
        s.read(off, b);
        return b.getLong(0);
    }

    int u32(long off) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4);
        s.read(off, b);
        return b.getInt(0);
    }

    void put64(long off, long v) throws IOException {
        s.write(off, ByteBuffer.allocate(8).putLong(0, v));
    }

    void put32(long off, int v) throws IOException {
        s.write(off, ByteBuffer.allocate(4).putInt(0, v));
    }

    int clusterBits() throws IOException {
        return u32(20);
    }

    int clusterSize() throws IOException {
        return 1 << clusterBits();
    }

    int refcountOrder() throws IOException {
        return u32(4) >= 3 ? u32(96) : 4;
    }

    long l1Offset() throws IOException {
        return u64(40);
    }

    long reftableOffset() throws IOException {
        return u64(48);
    }

    boolean extendedL2() throws IOException {
        return u32(4) >= 3 && (u64(72) & (1L << 4)) != 0;
    }

    int l2EntryBytes() throws IOException {
        return extendedL2() ? 16 : 8;
    }

    long l1Entry(int i) throws IOException {
        return u64(l1Offset() + 8L * i);
    }

    long l2Table(int l1Index) throws IOException {
        return l1Entry(l1Index) & 0x00ff_ffff_ffff_fe00L;
    }

    long l2EntryOffset(int l1Index, int l2Index) throws IOException {
        return l2Table(l1Index) + (long) l2Index * l2EntryBytes();
    }

    long l2Entry(int l1Index, int l2Index) throws IOException {
        return u64(l2EntryOffset(l1Index, l2Index));
    }

    void setL2Entry(int l1Index, int l2Index, long v) throws IOException {
        put64(l2EntryOffset(l1Index, l2Index), v);
    }

    private long[] refcountSlot(long cluster) throws IOException {
        int order = refcountOrder();
        int blockBits = clusterBits() + 3 - order;
        long rt = u64(reftableOffset() + 8 * (cluster >>> blockBits)) & ~0x1ffL;
        if (rt == 0) {
            throw new IllegalStateException("no refcount block for cluster " + cluster);
        }
        return new long[] {rt, cluster & ((1L << blockBits) - 1), order};
    }

    long refcount(long cluster) throws IOException {
        long[] slot = refcountSlot(cluster);
        byte[] block = new byte[clusterSize()];
        s.read(slot[0], block, 0, block.length);
        return RefcountBlock.get(block, (int) slot[2], (int) slot[1]);
    }

    void setRefcount(long cluster, long v) throws IOException {
        long[] slot = refcountSlot(cluster);
        byte[] block = new byte[clusterSize()];
        s.read(slot[0], block, 0, block.length);
        RefcountBlock.set(block, (int) slot[2], (int) slot[1], v);
        s.write(slot[0], block, 0, block.length);
    }

    /** Appends one zeroed cluster at the (cluster-aligned) end of the file; returns its index. */
    long appendCluster() throws IOException {
        int cs = clusterSize();
        long end = (s.size() + cs - 1) / cs * cs;
        s.write(end, new byte[cs], 0, cs);
        return end / cs;
    }
}
