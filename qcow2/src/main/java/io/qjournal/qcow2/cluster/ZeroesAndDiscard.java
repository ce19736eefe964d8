package io.qjournal.qcow2.cluster;

import static io.qjournal.qcow2.cluster.Subclusters.DATA;
import static io.qjournal.qcow2.cluster.Subclusters.UNALLOC;

import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.table.ClusterMap;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;

/**
 * Zero writes and discards on the data path: zero flags on whole (sub)clusters in v3 images,
 * written zeros where a flag cannot say it (v2, partial clusters, compressed clusters), and
 * freed clusters for discard. Runs under the image's write lock.
 */
public final class ZeroesAndDiscard {
    private final ImageState state;
    private final ClusterWriter writer;
    private final ClusterAllocator allocator;
    private final ClusterMap map;
    private final int clusterBits;
    private final int cs;
    private final boolean ext;
    private final int scSize;
    private final int version;

    public ZeroesAndDiscard(ImageState state, ClusterWriter writer, ClusterAllocator allocator) {
        this.state = state;
        this.writer = writer;
        this.allocator = allocator;
        this.map = state.map();
        this.clusterBits = state.clusterBits();
        this.cs = state.clusterSize();
        this.ext = state.extendedL2();
        this.scSize = state.subclusterSize();
        this.version = state.version();
    }

    public void writeZeroes(long offset, long len) throws IOException {
        while (len > 0) {
            long start = offset & ~(long) (cs - 1);
            int co = (int) (offset - start);
            int n = (int) Math.min(len, cs - co);
            zeroChunk(start, co, n);
            offset += n;
            len -= n;
            state.writeback().commitIfTransactionFull();
        }
    }

    private void zeroChunk(long start, int co, int n) throws IOException {
        if (version < 3) {
            if (!readsZero(start)) {
                writer.writeChunk(start, co, new byte[n], 0, n);
            }
            return;
        }
        if (ext) {
            int s0 = (co + scSize - 1) / scSize;
            int s1 = (co + n) / scSize - 1;
            CachedTable probe = map.table(map.l1Index(start));
            long entry = probe == null ? 0 : map.entry(probe, map.l2Index(start));
            if (s0 > s1 || L2Entry.isCompressed(entry)) {
                if (!readsZero(start)) {
                    writer.writeChunk(start, co, new byte[n], 0, n);
                }
                return;
            }
            CachedTable t = allocator.tableForWrite(start);
            int l2i = map.l2Index(start);
            entry = map.entry(t, l2i);
            long bitmap = map.bitmap(t, l2i);
            map.validate(entry, bitmap, start);
            int mask = Subclusters.mask(s0, s1);
            if (mask == -1) {
                map.setEntry(t, l2i, 0, L2Entry.bitmap(0, -1));
                allocator.releaseOld(entry);
            } else {
                map.setEntry(t, l2i, entry, L2Entry.bitmap(L2Entry.allocBits(bitmap) & ~mask,
                        L2Entry.zeroBits(bitmap) | mask));
            }
            int head = s0 * scSize - co;
            int tail = co + n - (s1 + 1) * scSize;
            if (head > 0) {
                writer.writeChunk(start, co, new byte[head], 0, head);
            }
            if (tail > 0) {
                writer.writeChunk(start, (s1 + 1) * scSize, new byte[tail], 0, tail);
            }
            return;
        }
        if (n < cs) {
            if (!readsZero(start)) {
                writer.writeChunk(start, co, new byte[n], 0, n);
            }
            return;
        }
        CachedTable t = allocator.tableForWrite(start);
        int l2i = map.l2Index(start);
        long entry = map.entry(t, l2i);
        map.validate(entry, 0, start);
        L2Entry.Kind kind = L2Entry.kind(entry);
        if ((kind == L2Entry.Kind.NORMAL || kind == L2Entry.Kind.ZERO_ALLOC) && L2Entry.isCopied(entry)) {
            // Keep the allocation (QEMU without MAY_UNMAP): the flag makes it read as zeros.
            map.setEntry(t, l2i, L2Entry.hostOffset(entry) | L2Entry.COPIED | L2Entry.ZERO, 0);
        } else if (kind != L2Entry.Kind.ZERO_PLAIN) {
            map.setEntry(t, l2i, L2Entry.ZERO, 0);
            allocator.releaseOld(entry);
        }
    }

    /** True when the whole cluster at {@code start} already reads as zeros without I/O. */
    private boolean readsZero(long start) throws IOException {
        CachedTable t = map.table(map.l1Index(start));
        if (t == null) {
            return state.backing() == null;
        }
        long entry = map.entry(t, map.l2Index(start));
        long bitmap = map.bitmap(t, map.l2Index(start));
        if (L2Entry.isCompressed(entry)) {
            return false;
        }
        for (int sc = 0; sc < cs / scSize; sc++) {
            int st = Subclusters.state(ext, entry, bitmap, sc);
            if (st == DATA || (st == UNALLOC && state.backing() != null)) {
                return false;
            }
        }
        return true;
    }

    public void discard(long offset, long len) throws IOException {
        long first = (offset + cs - 1) & ~(long) (cs - 1);
        long end = offset + len == state.header().size() ? offset + len : (offset + len) & ~(long) (cs - 1);
        for (long start = first; start < end; start += cs) {
            CachedTable t = map.table(map.l1Index(start));
            if (t == null && state.backing() == null) {
                start = ((start >>> (clusterBits + map.l2Bits())) + 1 << (clusterBits + map.l2Bits())) - cs;
                continue;
            }
            t = allocator.tableForWrite(start);
            int l2i = map.l2Index(start);
            long entry = map.entry(t, l2i);
            long bitmap = map.bitmap(t, l2i);
            map.validate(entry, bitmap, start);
            boolean allocated = L2Entry.isCompressed(entry) || L2Entry.hostOffset(entry) != 0;
            if (!allocated && state.backing() == null) {
                continue;
            }
            if (ext) {
                map.setEntry(t, l2i, 0, L2Entry.bitmap(0, -1));
            } else {
                map.setEntry(t, l2i, version >= 3 ? L2Entry.ZERO : 0, 0);
            }
            allocator.releaseOld(entry);
            state.writeback().commitIfTransactionFull();
        }
    }
}
