package io.qjournal.qcow2.check;

import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.refcount.RefcountBlock;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Test helper: builds small, consistent qcow2 images in memory without QEMU, cluster by
 * cluster, keeping refcounts right, so that tests can then damage exactly one thing.
 * Layout: header, refcount table (one cluster), first refcount block, L1 table, then
 * everything else in allocation order.
 */
final class MiniImage {
    final MemoryStorage s;
    final int clusterBits;
    final int clusterSize;
    final int order;
    final long virtualSize;
    final boolean extendedL2;
    final long reftableOffset;
    final long l1Offset;
    final int l1Size;
    private long next;

    MiniImage(int clusterBits, int order, long virtualSize, int version, boolean extendedL2) throws IOException {
        this.s = new MemoryStorage("mini.qcow2");
        this.clusterBits = clusterBits;
        this.clusterSize = 1 << clusterBits;
        this.order = order;
        this.virtualSize = virtualSize;
        this.extendedL2 = extendedL2;
        int l2Entries = clusterSize / (extendedL2 ? 16 : 8);
        long perL2 = (long) l2Entries * clusterSize;
        this.l1Size = (int) Math.max(1, (virtualSize + perL2 - 1) / perL2);
        this.reftableOffset = clusterSize;
        long refblock = 2L * clusterSize;
        this.l1Offset = 3L * clusterSize;
        long l1Clusters = ((long) l1Size * 8 + clusterSize - 1) / clusterSize;
        next = l1Offset + l1Clusters * clusterSize;
        s.truncate(next);
        put64(reftableOffset, refblock);
        for (long c = 0; c < next / clusterSize; c++) {
            setRefcount(c, 1);
        }
        Header.Builder h = new Header.Builder();
        h.version = version;
        h.clusterBits = clusterBits;
        h.size = virtualSize;
        h.l1Size = l1Size;
        h.l1TableOffset = l1Offset;
        h.refcountTableOffset = reftableOffset;
        h.refcountTableClusters = 1;
        h.refcountOrder = version == 2 ? 4 : order;
        h.headerLength = version == 2 ? Header.V2_LENGTH : Header.V3_LENGTH_WITH_COMPRESSION;
        if (extendedL2) {
            h.set(Feature.EXTENDED_L2, true);
        }
        writeHeader(h.build());
    }

    static MiniImage v3(int clusterBits, int order, long size) throws IOException {
        return new MiniImage(clusterBits, order, size, 3, false);
    }

    void writeHeader(Header h) throws IOException {
        byte[] b = HeaderCodec.encode(h);
        s.write(0, b, 0, b.length);
    }

    Header header() throws IOException {
        return ImageChecker.readHeader(s);
    }

    long u64(long off) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8);
        s.read(off, b);
        return b.getLong(0);
    }

    void put64(long off, long v) throws IOException {
        s.write(off, ByteBuffer.allocate(8).putLong(0, v));
    }

    private int blockBits() {
        return clusterBits + 3 - order;
    }

    long refcount(long cluster) throws IOException {
        long block = u64(reftableOffset + 8 * (cluster >>> blockBits())) & ~0x1ffL;
        if (block == 0) {
            return 0;
        }
        byte[] b = new byte[clusterSize];
        s.read(block, b, 0, clusterSize);
        return RefcountBlock.get(b, order, (int) (cluster & ((1L << blockBits()) - 1)));
    }

    void setRefcount(long cluster, long v) throws IOException {
        long rtIndex = cluster >>> blockBits();
        if (rtIndex >= clusterSize / 8) {
            throw new IllegalStateException("mini image outgrew its one-cluster refcount table");
        }
        long block = u64(reftableOffset + 8 * rtIndex) & ~0x1ffL;
        if (block == 0) {
            block = next;
            next += clusterSize;
            s.truncate(next);
            put64(reftableOffset + 8 * rtIndex, block);
            setRefcount(block >>> clusterBits, 1);
        }
        byte[] b = new byte[clusterSize];
        s.read(block, b, 0, clusterSize);
        RefcountBlock.set(b, order, (int) (cluster & ((1L << blockBits()) - 1)), v);
        s.write(block, b, 0, clusterSize);
    }

    /** Allocates a zeroed cluster with refcount 1. */
    long alloc() throws IOException {
        long off = next;
        next += clusterSize;
        s.truncate(next);
        setRefcount(off >>> clusterBits, 1);
        return off;
    }

    long l2For(long guestOffset, boolean create) throws IOException {
        int l2Entries = clusterSize / (extendedL2 ? 16 : 8);
        int l1Index = (int) ((guestOffset >>> clusterBits) / l2Entries);
        long e = u64(l1Offset + 8L * l1Index);
        if ((e & 0x00ff_ffff_ffff_fe00L) == 0 && create) {
            long l2 = alloc();
            put64(l1Offset + 8L * l1Index, l2 | (1L << 63));
            return l2;
        }
        return e & 0x00ff_ffff_ffff_fe00L;
    }

    long l2EntryOffset(long guestOffset) throws IOException {
        int l2Entries = clusterSize / (extendedL2 ? 16 : 8);
        long l2 = l2For(guestOffset, true);
        return l2 + ((guestOffset >>> clusterBits) % l2Entries) * (extendedL2 ? 16 : 8);
    }

    /** Writes one guest cluster filled with {@code fill}; returns the host offset. */
    long writeCluster(long guestOffset, int fill) throws IOException {
        long entryOff = l2EntryOffset(guestOffset);
        long host = alloc();
        byte[] data = new byte[clusterSize];
        Arrays.fill(data, (byte) fill);
        s.write(host, data, 0, clusterSize);
        put64(entryOff, host | (1L << 63));
        if (extendedL2) {
            put64(entryOff + 8, 0xffff_ffffL);
        }
        return host;
    }

    long fileEnd() {
        return next;
    }
}
