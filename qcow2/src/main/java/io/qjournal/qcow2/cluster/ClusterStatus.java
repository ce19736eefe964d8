package io.qjournal.qcow2.cluster;

import static io.qjournal.qcow2.cluster.Subclusters.COMPRESSED;
import static io.qjournal.qcow2.cluster.Subclusters.DATA;
import static io.qjournal.qcow2.cluster.Subclusters.UNALLOC;
import static io.qjournal.qcow2.cluster.Subclusters.ZERO;

import io.qjournal.qcow2.BlockStatus;
import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.table.ClusterMap;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;

/**
 * Block status (qemu-img map, NBD block status): runs of subclusters with one state and
 * contiguous host offsets. Runs under the image's read lock.
 */
public final class ClusterStatus {
    private final ImageState state;
    private final ClusterMap map;
    private final int clusterBits;
    private final int cs;
    private final int scSize;

    public ClusterStatus(ImageState state) {
        this.state = state;
        this.map = state.map();
        this.clusterBits = state.clusterBits();
        this.cs = state.clusterSize();
        this.scSize = state.subclusterSize();
    }

    /** Status of the range from {@code offset}, at most {@code maxLen} bytes long (inside the image). */
    public BlockStatus blockStatus(long offset, long maxLen) throws IOException {
        Unit first = statusAt(offset);
        long pos = (offset / scSize + 1) * scSize;
        long end = offset + maxLen;
        while (pos < end) {
            Unit s = statusAt(pos);
            if (s.state() != first.state()) {
                break;
            }
            boolean mapped = first.host() >= 0;
            if (mapped != (s.host() >= 0) || (mapped && s.host() != first.host() + (pos - offset))) {
                break;
            }
            pos += s.bytesLeft();
        }
        long length = Math.min(pos, end) - offset;
        int st = first.state();
        long host = first.host();
        boolean zero = st == ZERO || (st == UNALLOC && state.backing() == null);
        return new BlockStatus(offset, length, st != UNALLOC, zero, st == DATA || st == COMPRESSED, host,
                st == COMPRESSED);
    }

    /** The state at a guest offset, its host offset (or -1), and the bytes left of its unit. */
    private record Unit(int state, long host, long bytesLeft) {
    }

    private Unit statusAt(long pos) throws IOException {
        int l1i = map.l1Index(pos);
        CachedTable t = map.table(l1i);
        if (t == null) {
            long l2Span = 1L << (clusterBits + map.l2Bits());
            return new Unit(UNALLOC, -1, l2Span - (pos & (l2Span - 1)));
        }
        long start = pos & ~(long) (cs - 1);
        int l2i = map.l2Index(pos);
        long entry = map.entry(t, l2i);
        long bitmap = map.bitmap(t, l2i);
        map.validate(entry, bitmap, start);
        int inCluster = (int) (pos - start);
        int st = Subclusters.state(state.extendedL2(), entry, bitmap, inCluster / scSize);
        long host = L2Entry.hostOffset(entry);
        // As QEMU: the host offset is valid whenever the cluster has one (data, zero-allocated,
        // unallocated subclusters of an allocated cluster), never for compressed clusters.
        long h = st != COMPRESSED && host != 0 ? host + inCluster : -1;
        return new Unit(st, h, scSize - (inCluster % scSize));
    }
}
