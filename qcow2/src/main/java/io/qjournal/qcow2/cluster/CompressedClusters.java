package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.compress.ClusterCompression;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;

/** Reading compressed clusters, with a one-cluster cache (reads of one cluster in pieces). */
final class CompressedClusters {
    private final ImageState state;
    private final int clusterBits;
    private final int cs;
    private long cachedCompressedEntry = -1;
    private byte[] cachedCompressed;

    CompressedClusters(ImageState state) {
        this.state = state;
        this.clusterBits = state.clusterBits();
        this.cs = state.clusterSize();
    }

    /** The cluster an entry names, decompressed; the last one is cached. */
    synchronized byte[] decompress(long entry) throws IOException {
        if (entry == cachedCompressedEntry) {
            return cachedCompressed;
        }
        long host = L2Entry.compressedHostOffset(entry, clusterBits);
        int sectors = L2Entry.compressedSectors(entry, clusterBits);
        int len = (int) Math.min((long) sectors * 512 - (host & 511), 2L * cs + 512);
        byte[] in = new byte[len];
        state.data().read(host, in, 0, len);
        byte[] out = new byte[cs];
        ClusterCompression.decompress(state.header().compressionType(), in, len, out, state.name(), host);
        cachedCompressedEntry = entry;
        cachedCompressed = out;
        return out;
    }
}
