package io.qjournal.qcow2;

/** How to open an image. Defaults: read-only, QEMU-compatible locking on. */
public final class OpenOptions {
    boolean writable;
    boolean lock = true;
    long l2CacheBytes = 1L << 20;
    long refcountCacheBytes = 256L << 10;
    boolean openBacking = true;
    boolean repairDirty = true;
    JournalOptions journal;
    boolean journalAtEnd;
    boolean preservesContents;
    PathPolicy pathPolicy;

    public static OpenOptions readOnly() {
        return new OpenOptions();
    }

    public static OpenOptions readWrite() {
        return new OpenOptions().writable(true);
    }

    public OpenOptions writable(boolean v) {
        writable = v;
        return this;
    }

    /** false = like qemu-img's -U (force share): take no image locks. */
    public OpenOptions lock(boolean v) {
        lock = v;
        return this;
    }

    /** Bound of the L2 table cache in bytes (QEMU's l2-cache-size). */
    public OpenOptions l2CacheBytes(long v) {
        l2CacheBytes = v;
        return this;
    }

    /** Bound of the refcount block cache in bytes (QEMU's refcount-cache-size). */
    public OpenOptions refcountCacheBytes(long v) {
        refcountCacheBytes = v;
        return this;
    }

    /** false = do not open the backing chain (info, check, map of one layer). */
    public OpenOptions openBacking(boolean v) {
        openBacking = v;
        return this;
    }

    /** Opens with a live metadata journal (null: no journal; every metadata update in place). */
    public OpenOptions journal(JournalOptions v) {
        journal = v;
        return this;
    }

    /**
     * Places a journal this open creates past the last cluster in use instead of in the first
     * free run (offline compaction: the clean close frees it and the file is cut there, where a
     * journal in a hole would leave the hole behind).
     */
    public OpenOptions journalAtEnd(boolean v) {
        journalAtEnd = v;
        return this;
    }

    /**
     * The opener promises not to change what the guest reads (offline maintenance such as
     * dedup-compaction, which only rearranges clusters): persistent dirty bitmaps then stay
     * true and are not marked in use, as every other writable open marks them.
     */
    public OpenOptions preservesContents(boolean v) {
        preservesContents = v;
        return this;
    }

    /**
     * Asks {@code policy} before opening the image and each backing file, by real path (null:
     * allow every path). Backing files inherit it.
     */
    public OpenOptions pathPolicy(PathPolicy policy) {
        pathPolicy = policy;
        return this;
    }

    public JournalOptions journal() {
        return journal;
    }

    public boolean isWritable() {
        return writable;
    }
}
