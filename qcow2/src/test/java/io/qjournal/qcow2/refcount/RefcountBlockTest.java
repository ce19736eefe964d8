package io.qjournal.qcow2.refcount;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

class RefcountBlockTest {
    @Test
    void everyWidthRoundTripsAndKeepsNeighbours() {
        for (int order = 0; order <= 6; order++) {
            int entries = RefcountBlock.entries(512, order);
            assertEquals(512 * 8 >> order, entries);
            long max = RefcountBlock.maxValue(order);
            byte[] block = new byte[512];
            long[] model = new long[entries];
            long seed = 42 + order;
            Random r = new Random(seed);
            for (int i = 0; i < 5000; i++) {
                int idx = r.nextInt(entries);
                long v = order == 6 ? r.nextLong() : (r.nextLong() & max);
                if (i % 7 == 0) {
                    v = max;
                }
                RefcountBlock.set(block, order, idx, v);
                model[idx] = v;
            }
            for (int i = 0; i < entries; i++) {
                assertEquals(model[i], RefcountBlock.get(block, order, i), "order " + order + " index " + i + " seed " + seed);
            }
        }
    }

    @Test
    void subByteWidthsPackLowestIndexInLowBits() {
        byte[] b = new byte[1];
        RefcountBlock.set(b, 0, 0, 1);
        assertEquals(1, b[0]);
        RefcountBlock.set(b, 1, 3, 3);
        assertEquals((byte) 0xc1, b[0]);
        byte[] w = new byte[2];
        RefcountBlock.set(w, 4, 0, 0x1234);
        assertEquals(0x12, w[0]);
        assertEquals(0x34, w[1]);
    }
}
