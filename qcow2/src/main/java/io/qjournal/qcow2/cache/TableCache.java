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
        tables.put(t.offset(), t);
        Iterator<Map.Entry<Long, CachedTable>> it = tables.entrySet().iterator();
        while (tables.size() > capacity && it.hasNext()) {
            CachedTable c = it.next().getValue();
            if (!c.isDirty() && c != t) {
                it.remove();
            }
        }
    }

    /** Drops a table (its cluster was freed); a dirty table is dropped without writing. */
    public synchronized void remove(long offset) {
        tables.remove(offset);
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
            if (!it.next().getValue().isDirty()) {
                it.remove();
            }
        }
    }

    public synchronized void clear() {
        tables.clear();
    }

    public synchronized int size() {
        return tables.size();
    }
}
