package io.qjournal.qcow2.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TableCacheTest {
    /** The kept counts must equal a walk over the cache after any mix of operations. */
    @Test
    void dirtyCountsFollowEveryChange() {
        long seed = System.nanoTime();
        Random r = new Random(seed);
        TableCache cache = new TableCache(8);
        TableCache other = new TableCache(4);
        List<CachedTable> known = new ArrayList<>();
        for (int step = 0; step < 20_000; step++) {
            int op = r.nextInt(7);
            if (op == 0 || known.isEmpty()) {
                CachedTable t = new CachedTable(4096L * r.nextInt(32), new byte[4096]);
                if (r.nextBoolean()) {
                    t.markDirty(r.nextInt(4096), 4096);
                }
                cache.put(t);
                known.add(t);
            } else {
                CachedTable t = known.get(r.nextInt(known.size()));
                switch (op) {
                    case 1, 2 -> {
                        int from = r.nextInt(4096);
                        t.markDirty(from, from + r.nextInt(4096 - from + 1));
                    }
                    case 3 -> t.markClean();
                    case 4 -> cache.remove(t.offset());
                    case 5 -> (r.nextBoolean() ? cache : other).put(t);
                    default -> {
                        // A write-back: every dirty table written and marked clean, then trimmed.
                        for (CachedTable d : cache.dirtyTables()) {
                            d.markClean();
                        }
                        cache.trim();
                    }
                }
            }
            for (TableCache c : List.of(cache, other)) {
                int count = 0;
                long bytes = 0;
                for (CachedTable t : c.dirtyTables()) {
                    count++;
                    bytes += t.dirtyLength();
                }
                assertEquals(count, c.dirtyCount(), "dirty tables after step " + step + " (seed " + seed + ")");
                assertEquals(bytes, c.dirtyBytes(), "dirty bytes after step " + step + " (seed " + seed + ")");
            }
        }
    }
}
