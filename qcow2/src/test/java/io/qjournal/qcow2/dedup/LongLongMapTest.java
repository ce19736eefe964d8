package io.qjournal.qcow2.dedup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LongLongMapTest {
    @Test
    void agreesWithHashMapThroughGrowth() {
        long seed = 20261125L;
        Random r = new Random(seed);
        LongLongMap m = new LongLongMap(4);
        Map<Long, Long> ref = new HashMap<>();
        for (int i = 0; i < 100_000; i++) {
            // Small keys collide often, large ones exercise the mixing.
            long k = r.nextBoolean() ? r.nextInt(5000) : r.nextLong();
            if (k == LongLongMap.ABSENT) {
                continue;
            }
            long v = r.nextLong();
            m.put(k, v);
            ref.put(k, v);
        }
        assertEquals(ref.size(), m.size(), "seed " + seed);
        for (Map.Entry<Long, Long> e : ref.entrySet()) {
            assertEquals((long) e.getValue(), m.get(e.getKey()), "seed " + seed + ", key " + e.getKey());
        }
        for (int i = 0; i < 1000; i++) {
            long k = 10_000 + r.nextInt(1_000_000);
            if (!ref.containsKey(k)) {
                assertEquals(LongLongMap.ABSENT, m.get(k));
            }
        }
    }

    @Test
    void reservedKeyIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new LongLongMap(1).put(LongLongMap.ABSENT, 1));
    }
}
