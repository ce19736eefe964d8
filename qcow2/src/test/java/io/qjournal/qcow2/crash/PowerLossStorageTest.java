package io.qjournal.qcow2.crash;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.CrashState;
import io.qjournal.qcow2.testsupport.PowerLossStorage;
import java.io.IOException;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PowerLossStorageTest {
    private static byte[] filled(int len, int v) {
        byte[] b = new byte[len];
        Arrays.fill(b, (byte) v);
        return b;
    }

    @Test
    void flushBoundariesAndDurablePrefix() throws IOException {
        PowerLossStorage s = new PowerLossStorage("t", new byte[1024]);
        s.write(0, filled(10, 1), 0, 10);
        s.flush();
        s.write(10, filled(10, 2), 0, 10);
        s.write(20, filled(10, 3), 0, 10);
        s.flush();
        s.write(30, filled(10, 4), 0, 10);
        assertEquals(6, s.opCount());
        assertEquals(List.of(2, 5), s.flushBoundaries());
        assertEquals(0, s.durablePrefix(1));
        assertEquals(2, s.durablePrefix(2));
        assertEquals(2, s.durablePrefix(4));
        assertEquals(5, s.durablePrefix(6));
        assertThrows(IllegalArgumentException.class, () -> s.durablePrefix(7));
        // Reads see everything, landed or not.
        byte[] r = new byte[40];
        s.read(0, r, 0, 40);
        assertEquals(4, r[35]);
    }

    @Test
    void flushBoundaryStateIsExactAndEarlierWritesAlwaysSurvive() throws IOException {
        byte[] base = filled(4096, 9);
        PowerLossStorage s = new PowerLossStorage("t", base);
        s.write(0, filled(100, 1), 0, 100);
        s.flush();
        s.write(100, filled(100, 2), 0, 100);
        s.write(5000, filled(100, 3), 0, 100);
        for (long seed = 0; seed < 200; seed++) {
            CrashState atFlush = s.crashState(2, new Random(seed));
            assertArrayEquals(s.allLanded(2), atFlush.image());
            CrashState later = s.crashState(4, new Random(seed));
            byte[] img = later.image();
            for (int i = 0; i < 100; i++) {
                assertEquals(1, img[i], "flushed write lost: " + later);
            }
            // Each in-flight write landed whole or not at all (both are within one... no tear of 1-sector writes).
            boolean second = img[100] == 2;
            for (int i = 100; i < 200; i++) {
                assertEquals(second ? 2 : 9, img[i], later.toString());
            }
            assertTrue(img.length == 4096 || img.length == 5100, "size " + img.length);
        }
        assertArrayEquals(s.crashState(4, new Random(7)).image(), s.crashState(4, new Random(7)).image());
        // Asking out of order must give the same answer (the snapshot cache restarts).
        byte[] b1 = s.crashState(1, new Random(3)).image();
        s.crashState(4, new Random(3));
        assertArrayEquals(b1, s.crashState(1, new Random(3)).image());
    }

    @Test
    void tearsOnlyAtSectorBoundaries() throws IOException {
        PowerLossStorage s = new PowerLossStorage("t", new byte[16384]);
        s.flush();
        s.write(1000, filled(6000, 7), 0, 6000); // sectors 1..13, partial at both ends
        Set<String> patterns = new HashSet<>();
        boolean sawTorn = false;
        for (long seed = 0; seed < 400; seed++) {
            CrashState c = s.crashState(2, new Random(seed));
            byte[] img = c.image();
            StringBuilder p = new StringBuilder();
            for (int sec = 1000 / 512; sec <= 6999 / 512; sec++) {
                int from = Math.max(1000, sec * 512);
                int to = Math.min(7000, (sec + 1) * 512);
                byte v = img[from];
                for (int i = from; i < to; i++) {
                    assertEquals(v, img[i], "write torn inside sector " + sec + ": " + c);
                }
                p.append(v == 7 ? '1' : '0');
            }
            patterns.add(p.toString());
            sawTorn |= p.indexOf("1") >= 0 && p.indexOf("0") >= 0;
        }
        assertTrue(sawTorn, "no torn write in 400 states");
        assertTrue(patterns.contains("0".repeat(13)) && patterns.contains("1".repeat(13)), patterns.toString());
    }

    @Test
    void truncateIsReplayed() throws IOException {
        PowerLossStorage s = new PowerLossStorage("t", filled(2048, 5));
        s.truncate(1024);
        s.flush();
        assertEquals(1024, s.crashState(2, new Random(1)).image().length);
        assertEquals(2048, s.crashState(0, new Random(1)).image().length);
    }
}
