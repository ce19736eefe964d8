package io.qjournal.daemon.nbd;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** A mutable set of exports for tests; the empty name finds the first export added. */
final class MemoryExports implements NbdExports {
    private final Map<String, NbdExport> map = new ConcurrentHashMap<>();
    private volatile String first;

    MemoryExports add(NbdExport e) {
        map.put(e.name(), e);
        if (first == null) {
            first = e.name();
        }
        return this;
    }

    void remove(String name) {
        map.remove(name);
    }

    @Override
    public NbdExport find(String name) {
        if (name.isEmpty() && first != null) {
            return map.get(first);
        }
        return map.get(name);
    }

    @Override
    public Collection<NbdExport> list() {
        return List.copyOf(map.values());
    }
}
