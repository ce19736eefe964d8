package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.storage.Extent;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class RangeSetTest {
    @Test
    void subtractAndOverlapMatchABitmapModel() {
        long seed = 1982;
        Random r = new Random(seed);
        for (int round = 0; round < 200; round++) {
            RangeSet set = new RangeSet();
            boolean[] model = new boolean[200];
            for (int k = r.nextInt(6); k > 0; k--) {
                int a = r.nextInt(190);
                int b = a + 1 + r.nextInt(10);
                set.add(a, b);
                for (int i = a; i < b; i++) {
                    model[i] = true;
                }
            }
            int s = r.nextInt(150);
            int e = s + 1 + r.nextInt(49);
            boolean[] left = new boolean[200];
            for (Extent p : set.subtractFrom(s, e)) {
                for (long i = p.offset(); i < p.end(); i++) {
                    left[(int) i] = true;
                }
            }
            boolean[] expected = new boolean[200];
            boolean any = false;
            for (int i = s; i < e; i++) {
                expected[i] = !model[i];
                any |= model[i];
            }
            assertArrayEquals(expected, left, "seed " + seed + " round " + round);
            assertEquals(any, set.overlaps(s, e), "seed " + seed + " round " + round);
        }
    }

    @Test
    void piecesAreAscendingAndMerged() {
        RangeSet set = new RangeSet();
        set.add(10, 20);
        set.add(20, 30);
        set.add(40, 50);
        List<Extent> pieces = set.subtractFrom(0, 60);
        assertEquals(3, pieces.size());
        assertEquals(new Extent(0, 10), pieces.get(0));
        assertEquals(new Extent(30, 10), pieces.get(1));
        assertEquals(new Extent(50, 10), pieces.get(2));
    }
}
