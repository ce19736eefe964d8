package io.qjournal.qcow2.cache;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A bounded LRU cache of metadata clusters, like QEMU's Qcow2Cache. Dirty tables are never
 * dropped: when only dirty tables could be evicted the cache grows past its bound until the
 * owner writes them back ({@link #needsWriteback()}). Thread-safe.
 */
public final class TableCache {
    private final int capacity;
    private final LinkedHashMap<Long, CachedTable> tables = new LinkedHashMap<>(16, 0.75f, true);
    /**
     * Dirty tables and their dirty bytes, kept as the tables change (they tell their cache):
     * the commit triggers ask after every guest write, and a walk over the cache each time
     * cost the journal a tenth of a small-write benchmark.
     */
    private int dirtyCount;
    private long dirtyByteCount;

    /** @param capacity number of tables kept (at least 2) */
    public TableCache(int capacity) {
        this.capacity = Math.max(2, capacity);
    }

    public synchronized CachedTable get(long offset) {
        return tables.get(offset);
    }

    /**
     * Adds a table. The table just added is never the one evicted: the caller is about to use
     * (and perhaps dirty) it, and a detached copy would lose its changes.
     */
    public synchronized void put(CachedTable t) {
        CachedTable old = tables.put(t.offset(), t);
        if (old != null && old != t) {
            detach(old);
        }
        if (t.owner() != this) {
            if (t.owner() != null) {
                t.owner().forget(t);
            }
            t.owner(this);
            if (t.isDirty()) {
                dirtyChanged(1, t.dirtyLength());
            }
        }
        Iterator<Map.Entry<Long, CachedTable>> it = tables.entrySet().iterator();
        while (tables.size() > capacity && it.hasNext()) {
            CachedTable c = it.next().getValue();
            if (!c.isDirty() && c != t) {
                it.remove();
                c.owner(null);
            }
        }
    }

    /** Drops a table (its cluster was freed); a dirty table is dropped without writing. */
    public synchronized void remove(long offset) {
        CachedTable old = tables.remove(offset);
        if (old != null) {
            detach(old);
        }
    }

    /** A table moving to another cache leaves this one (and its counts). */
    private synchronized void forget(CachedTable t) {
        if (tables.get(t.offset()) == t) {
            tables.remove(t.offset());
        }
        detach(t);
    }

    private void detach(CachedTable t) {
        if (t.isDirty()) {
            dirtyChanged(-1, -t.dirtyLength());
        }
        t.owner(null);
    }

    synchronized void dirtyChanged(int tablesDelta, long bytesDelta) {
        dirtyCount += tablesDelta;
        dirtyByteCount += bytesDelta;
    }

    /** Number of dirty tables, without walking the cache. */
    public synchronized int dirtyCount() {
        return dirtyCount;
    }

    /** Dirty bytes of all tables (their dirty spans), without walking the cache. */
    public synchronized long dirtyBytes() {
        return dirtyByteCount;
    }

    public synchronized List<CachedTable> dirtyTables() {
        List<CachedTable> out = new ArrayList<>();
        for (CachedTable t : tables.values()) {
            if (t.isDirty()) {
                out.add(t);
            }
        }
        return out;
    }

    /** True when the cache holds more than its bound because dirty tables could not go. */
    public synchronized boolean needsWriteback() {
        return tables.size() > capacity;
    }

    /** Call after dirty tables were written back and marked clean. */
    public synchronized void trim() {
        Iterator<Map.Entry<Long, CachedTable>> it = tables.entrySet().iterator();
        while (tables.size() > capacity && it.hasNext()) {
            CachedTable c = it.next().getValue();
            if (!c.isDirty()) {
                it.remove();
                c.owner(null);
            }
        }
    }

    public synchronized void clear() {
        for (CachedTable t : tables.values()) {
            t.owner(null);
        }
        tables.clear();
        dirtyCount = 0;
        dirtyByteCount = 0;
    }

    public synchronized int size() {
        return tables.size();
    }
}
