package io.qjournal.qcow2;

import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.compress.ClusterCompression;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.table.ClusterMap;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;

/**
 * Compressed clusters on the data path: reading them (with a one-cluster cache), and writing
 * them packed at byte granularity as QEMU does (convert -c).
 */
final class CompressedClusters {
    private final Qcow2Image image;
    private final DataPath data;
    private final Storage storage;
    private final ClusterMap map;
    private final RefcountManager refcounts;
    private final int clusterBits;
    private final int cs;
    private long compressedCursor;
    private long cachedCompressedEntry = -1;
    private byte[] cachedCompressed;

    CompressedClusters(Qcow2Image image, DataPath data, Storage storage) {
        this.image = image;
        this.data = data;
        this.storage = storage;
        this.map = image.map();
        this.refcounts = image.refcounts();
        this.clusterBits = image.clusterBits();
        this.cs = 1 << clusterBits;
    }

    /** The cluster an entry names, decompressed; the last one is cached (reads of one cluster in pieces). */
    synchronized byte[] decompress(long entry) throws IOException {
        if (entry == cachedCompressedEntry) {
            return cachedCompressed;
        }
        long host = L2Entry.compressedHostOffset(entry, clusterBits);
        int sectors = L2Entry.compressedSectors(entry, clusterBits);
        int len = (int) Math.min((long) sectors * 512 - (host & 511), 2L * cs + 512);
        byte[] in = new byte[len];
        storage.read(host, in, 0, len);
        byte[] out = new byte[cs];
        ClusterCompression.decompress(image.header().compressionType(), in, len, out, image.name(), host);
        cachedCompressedEntry = entry;
        cachedCompressed = out;
        return out;
    }

    /** Writes one whole cluster compressed; stored as is when compression does not shrink it. */
    void write(long offset, byte[] cluster) throws IOException {
        byte[] z = ClusterCompression.compress(image.header().compressionType(), cluster);
        if (z == null) {
            data.writeChunk(offset, 0, cluster, 0, cs);
            return;
        }
        CachedTable t = data.tableForWrite(offset);
        int l2i = map.l2Index(offset);
        long old = map.entry(t, l2i);
        map.validate(old, map.bitmap(t, l2i), offset);
        long host = allocateBytes(z.length);
        image.checkNotMetadata(host, z.length);
        storage.write(host, z, 0, z.length);
        image.needDataBarrier();
        int sectors = (int) (((host + z.length - 1) >>> 9) - (host >>> 9) + 1);
        map.setEntry(t, l2i, L2Entry.compressedEntry(host, sectors, clusterBits), 0);
        data.releaseOld(old);
    }

    /** Byte-granular allocation for compressed clusters, packing them as QEMU's qcow2_alloc_bytes. */
    private long allocateBytes(int len) throws IOException {
        long cur = compressedCursor;
        if (cur != 0 && (cur & (cs - 1)) != 0 && cs - (cur & (cs - 1)) >= len
                && refcounts.get(cur >>> clusterBits) > 0) {
            refcounts.update(cur & ~(long) (cs - 1), 1, 1);
            compressedCursor = cur + len;
            return cur;
        }
        int k = (len + cs - 1) / cs;
        long start = refcounts.allocate(k);
        compressedCursor = start + len;
        return start;
    }
}
