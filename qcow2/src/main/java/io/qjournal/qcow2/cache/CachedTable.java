package io.qjournal.qcow2.cache;

/** One metadata cluster held in memory (an L2 table or a refcount block). */
public final class CachedTable {
    private final long offset;
    private final byte[] data;
    private boolean dirty;
    private int dirtyFrom = Integer.MAX_VALUE;
    private int dirtyTo;
    /** The cache holding this table, told of every change of its dirty span; null when none. */
    private TableCache owner;

    public CachedTable(long offset, byte[] data) {
        this.offset = offset;
        this.data = data;
    }

    /** Host offset of the table in the image file. */
    public long offset() {
        return offset;
    }

    /** The table's bytes; callers mutate them and then call {@link #markDirty()}. */
    public byte[] data() {
        return data;
    }

    public boolean isDirty() {
        return dirty;
    }

    /** Marks the whole table dirty (a new or copied table). */
    public void markDirty() {
        markDirty(0, data.length);
    }

    /** Marks bytes [from, to) dirty; a write-back writes only the dirty span, in 512-byte sectors. */
    public void markDirty(int from, int to) {
        boolean was = dirty;
        int before = dirtyLength();
        dirty = true;
        dirtyFrom = Math.min(dirtyFrom, from & ~511);
        dirtyTo = Math.max(dirtyTo, Math.min(data.length, (to + 511) & ~511));
        TableCache o = owner;
        if (o != null) {
            o.dirtyChanged(was ? 0 : 1, dirtyLength() - before);
        }
    }

    public void markClean() {
        boolean was = dirty;
        int before = dirtyLength();
        dirty = false;
        dirtyFrom = Integer.MAX_VALUE;
        dirtyTo = 0;
        TableCache o = owner;
        if (o != null && was) {
            o.dirtyChanged(-1, -before);
        }
    }

    TableCache owner() {
        return owner;
    }

    void owner(TableCache cache) {
        owner = cache;
    }

    /** Host offset of the first dirty byte. */
    public long dirtyOffset() {
        return offset + dirtyFrom;
    }

    public int dirtyLength() {
        return dirty ? dirtyTo - dirtyFrom : 0;
    }

    /** A copy of the dirty span. */
    public byte[] dirtyBytes() {
        return java.util.Arrays.copyOfRange(data, dirtyFrom, dirtyTo);
    }
}
