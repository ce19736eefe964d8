package io.qjournal.qcow2.table;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.cache.TableCache;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.meta.MetaWrite;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * The active L1 table (in memory) and the L2 tables it points to (through a bounded cache).
 * Entries are read and written through ByteBuffer views of the cached clusters.
 * Not thread-safe by itself: the image holds its lock around every call.
 */
public final class ClusterMap {
    private final Storage storage;
    private final String file;
    private final int clusterBits;
    private final int clusterSize;
    private final boolean extended;
    private final int entryBytes;
    private final int l2Bits;
    private long[] l1;
    private long l1Offset;
    private final TreeSet<Integer> dirtyL1 = new TreeSet<>();
    private final TableCache l2Cache;
    /** Host offsets of the active L2 tables, for the metadata overlap check. */
    private final java.util.HashSet<Long> l2Offsets = new java.util.HashSet<>();

    /** Sees metadata committed to the journal but not yet written home. */
    private io.qjournal.qcow2.meta.MetadataWriter overlay;

    public void setReadOverlay(io.qjournal.qcow2.meta.MetadataWriter w) {
        overlay = w;
    }

    public ClusterMap(Storage storage, String file, int clusterBits, boolean extended, long l1Offset, int l1Size,
            long cacheBytes) throws IOException {
        this.storage = storage;
        this.file = file;
        this.clusterBits = clusterBits;
        this.clusterSize = 1 << clusterBits;
        this.extended = extended;
        this.entryBytes = extended ? 16 : 8;
        this.l2Bits = clusterBits - (extended ? 4 : 3);
        this.l2Cache = new TableCache((int) Math.max(4, cacheBytes / clusterSize));
        this.l1Offset = l1Offset;
        this.l1 = new long[l1Size];
        if (l1Size > 0) {
            ByteBuffer b = ByteBuffer.allocate(l1Size * 8);
            storage.read(l1Offset, b);
            b.flip();
            l1 = BigEndianLongs.decode(b, l1Size);
            for (int i = 0; i < l1Size; i++) {
                long off = l1[i] & L2Entry.OFFSET_MASK;
                if (off != 0) {
                    l2Offsets.add(off);
                }
            }
        }
    }

    public int l2Bits() {
        return l2Bits;
    }

    public int l2Entries() {
        return 1 << l2Bits;
    }

    public boolean extended() {
        return extended;
    }

    public int l1Size() {
        return l1.length;
    }

    public long l1Offset() {
        return l1Offset;
    }

    public long l1Entry(int index) {
        return l1[index];
    }

    public int l1Index(long guestOffset) {
        return (int) (guestOffset >>> (clusterBits + l2Bits));
    }

    public int l2Index(long guestOffset) {
        return (int) ((guestOffset >>> clusterBits) & ((1 << l2Bits) - 1));
    }

    /** The L2 table for an L1 index, or null when unallocated. */
    public CachedTable table(int l1Index) throws IOException {
        if (l1Index >= l1.length) {
            return null;
        }
        long e = l1[l1Index];
        long off = e & L2Entry.OFFSET_MASK;
        if (off == 0) {
            return null;
        }
        CachedTable t = l2Cache.get(off);
        if (t != null) {
            return t;
        }
        if ((e & L2Entry.L1_RESERVED_MASK) != 0 || (off & (clusterSize - 1)) != 0) {
            throw new Qcow2Exception(file, String.format(
                    "L2 table offset 0x%x unaligned or reserved bits set (L1 index %d)", e, l1Index));
        }
        if (off >= Math.max(storage.size(), overlay == null ? 0 : overlay.unsyncedEnd())) {
            throw new Qcow2Exception(file, String.format(
                    "L2 table at 0x%x (L1 index %d) lies beyond the end of the file", off, l1Index));
        }
        byte[] data = new byte[clusterSize];
        storage.read(off, data, 0, clusterSize);
        if (overlay != null) {
            overlay.overlayUnsynced(off, data);
        }
        t = new CachedTable(off, data);
        l2Cache.put(t);
        return t;
    }

    /** True when the cluster at this host offset is an active L2 table. */
    public boolean isL2Table(long clusterOffset) {
        return l2Offsets.contains(clusterOffset);
    }

    public boolean l1Copied(int l1Index) {
        return (l1[l1Index] & L2Entry.COPIED) != 0;
    }

    /** Points an L1 entry at a (new) L2 table that is already in the cache or given here. */
    public void setTable(int l1Index, CachedTable table) {
        l2Offsets.remove(l1[l1Index] & L2Entry.OFFSET_MASK);
        l2Offsets.add(table.offset());
        l2Cache.put(table);
        l1[l1Index] = table.offset() | L2Entry.COPIED;
        dirtyL1.add(l1Index);
    }

    public void dropTable(long offset) {
        l2Cache.remove(offset);
    }

    public long entry(CachedTable t, int l2Index) {
        return ByteBuffer.wrap(t.data()).getLong(l2Index * entryBytes);
    }

    public long bitmap(CachedTable t, int l2Index) {
        return extended ? ByteBuffer.wrap(t.data()).getLong(l2Index * entryBytes + 8) : 0;
    }

    public void setEntry(CachedTable t, int l2Index, long entry, long bitmap) {
        ByteBuffer b = ByteBuffer.wrap(t.data());
        b.putLong(l2Index * entryBytes, entry);
        if (extended) {
            b.putLong(l2Index * entryBytes + 8, bitmap);
        }
        t.markDirty(l2Index * entryBytes, (l2Index + 1) * entryBytes);
    }

    /** Rejects entries a valid image cannot hold before they are used. */
    public void validate(long entry, long bitmap, long guestOffset) throws Qcow2Exception {
        if (L2Entry.isCompressed(entry)) {
            if (L2Entry.isCopied(entry)) {
                throw new Qcow2Exception(file, String.format(
                        "compressed L2 entry 0x%x for guest offset 0x%x has the COPIED flag set", entry, guestOffset));
            }
            if (extended && bitmap != 0) {
                throw new Qcow2Exception(file, String.format(
                        "compressed cluster at guest offset 0x%x has a non-zero subcluster bitmap", guestOffset));
            }
            return;
        }
        if ((entry & L2Entry.STANDARD_RESERVED_MASK) != 0) {
            throw new Qcow2Exception(file, String.format(
                    "L2 entry 0x%x for guest offset 0x%x has reserved bits set", entry, guestOffset));
        }
        long off = L2Entry.hostOffset(entry);
        if ((off & (clusterSize - 1)) != 0) {
            throw new Qcow2Exception(file, String.format(
                    "cluster allocation offset 0x%x unaligned (guest offset 0x%x)", off, guestOffset));
        }
        if (extended) {
            if ((entry & L2Entry.ZERO) != 0) {
                throw new Qcow2Exception(file, String.format(
                        "extended L2 entry for guest offset 0x%x uses the zero flag", guestOffset));
            }
            if ((L2Entry.allocBits(bitmap) & L2Entry.zeroBits(bitmap)) != 0) {
                throw new Qcow2Exception(file, String.format(
                        "subcluster bitmap 0x%x for guest offset 0x%x marks subclusters both allocated and zero",
                        bitmap, guestOffset));
            }
            if (off == 0 && L2Entry.allocBits(bitmap) != 0) {
                throw new Qcow2Exception(file, String.format(
                        "subclusters at guest offset 0x%x are allocated but the cluster has no host offset",
                        guestOffset));
            }
        }
        if (off > HeaderCodec.MAX_OFFSET - clusterSize) {
            throw new Qcow2Exception(file, String.format("L2 entry 0x%x points beyond 2^56", entry));
        }
    }

    /** Replaces the L1 table (after a resize moved it). */
    public void replaceL1(long newOffset, long[] newL1) {
        l1Offset = newOffset;
        l1 = newL1.clone();
        dirtyL1.clear();
    }

    public long[] l1Copy() {
        return l1.clone();
    }

    public List<MetaWrite> collectTableWrites() {
        List<MetaWrite> out = new ArrayList<>();
        for (CachedTable t : l2Cache.dirtyTables()) {
            out.add(new MetaWrite(t.dirtyOffset(), t.dirtyBytes()));
            t.markClean();
        }
        l2Cache.trim();
        return out;
    }

    public List<MetaWrite> collectL1Writes() {
        List<MetaWrite> out = new ArrayList<>();
        for (int i : dirtyL1) {
            out.add(new MetaWrite(l1Offset + 8L * i, ByteBuffer.allocate(8).putLong(l1[i]).array()));
        }
        dirtyL1.clear();
        return out;
    }

    /** Writes the next flush would issue (dirty tables and L1 entries), before coalescing. */
    public int dirtyWrites() {
        return dirtyL1.size() + l2Cache.dirtyCount();
    }

    /** Bytes of dirty L1/L2 metadata waiting for the next flush or commit. */
    public long dirtyBytes() {
        return 8L * dirtyL1.size() + l2Cache.dirtyBytes();
    }

    public boolean hasDirty() {
        return !dirtyL1.isEmpty() || l2Cache.dirtyCount() > 0;
    }

    public boolean cacheOverfull() {
        return l2Cache.needsWriteback();
    }
}
