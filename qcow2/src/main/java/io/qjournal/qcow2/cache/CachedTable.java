package io.qjournal.qcow2.cache;

/** One metadata cluster held in memory (an L2 table or a refcount block). */
public final class CachedTable {
    private final long offset;
    private final byte[] data;
    private boolean dirty;

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

    public void markDirty() {
        dirty = true;
    }

    public void markClean() {
        dirty = false;
    }
}
