package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.compress.ClusterCompression;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.table.ClusterMap;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;

/**
 * Whole clusters written compressed (convert -c), packed at byte granularity as QEMU does.
 * Runs under the image's write lock.
 */
public final class CompressedWrites {
    private final ImageState state;
    private final ClusterWriter writer;
    private final ClusterAllocator allocator;
    private final ClusterMap map;
    private final RefcountManager refcounts;
    private final int clusterBits;
    private final int cs;
    private long compressedCursor;

    public CompressedWrites(ImageState state, ClusterWriter writer, ClusterAllocator allocator) {
        this.state = state;
        this.writer = writer;
        this.allocator = allocator;
        this.map = state.map();
        this.refcounts = state.refcounts();
        this.clusterBits = state.clusterBits();
        this.cs = state.clusterSize();
    }

    /** Writes one whole cluster compressed; stored as is when compression does not shrink it. */
    public void write(long offset, byte[] cluster) throws IOException {
        byte[] z = ClusterCompression.compress(state.header().compressionType(), cluster);
        if (z == null) {
            writer.writeChunk(offset, 0, cluster, 0, cs);
            return;
        }
        CachedTable t = allocator.tableForWrite(offset);
        int l2i = map.l2Index(offset);
        long old = map.entry(t, l2i);
        map.validate(old, map.bitmap(t, l2i), offset);
        long host = allocateBytes(z.length);
        state.checkNotMetadata(host, z.length);
        state.data().write(host, z, 0, z.length);
        state.needDataBarrier();
        int sectors = (int) (((host + z.length - 1) >>> 9) - (host >>> 9) + 1);
        map.setEntry(t, l2i, L2Entry.compressedEntry(host, sectors, clusterBits), 0);
        allocator.releaseOld(old);
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
