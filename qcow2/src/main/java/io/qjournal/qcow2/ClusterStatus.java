package io.qjournal.qcow2;

import static io.qjournal.qcow2.DataPath.COMPRESSED;
import static io.qjournal.qcow2.DataPath.DATA;
import static io.qjournal.qcow2.DataPath.UNALLOC;
import static io.qjournal.qcow2.DataPath.ZERO;

import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.table.ClusterMap;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;

/**
 * Block status (qemu-img map, NBD block status): runs of subclusters with one state and
 * contiguous host offsets. Runs under the image's read lock.
 */
final class ClusterStatus {
    private final Qcow2Image image;
    private final DataPath data;
    private final ClusterMap map;
    private final int clusterBits;
    private final int cs;
    private final int scSize;

    ClusterStatus(Qcow2Image image, DataPath data) {
        this.image = image;
        this.data = data;
        this.map = image.map();
        this.clusterBits = image.clusterBits();
        this.cs = 1 << clusterBits;
        this.scSize = map.extended() ? cs / 32 : cs;
    }

    BlockStatus blockStatus(long offset, long maxLen) throws IOException {
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
        boolean zero = st == ZERO || (st == UNALLOC && image.backing() == null);
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
        int st = data.state(entry, bitmap, inCluster / scSize);
        long host = L2Entry.hostOffset(entry);
        // As QEMU: the host offset is valid whenever the cluster has one (data, zero-allocated,
        // unallocated subclusters of an allocated cluster), never for compressed clusters.
        long h = st != COMPRESSED && host != 0 ? host + inCluster : -1;
        return new Unit(st, h, scSize - (inCluster % scSize));
    }
}
