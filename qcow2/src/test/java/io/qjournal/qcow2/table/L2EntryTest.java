package io.qjournal.qcow2.table;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class L2EntryTest {
    @Test
    void kinds() {
        assertEquals(L2Entry.Kind.UNALLOCATED, L2Entry.kind(0));
        assertEquals(L2Entry.Kind.ZERO_PLAIN, L2Entry.kind(L2Entry.ZERO));
        assertEquals(L2Entry.Kind.ZERO_ALLOC, L2Entry.kind(0x10000 | L2Entry.ZERO | L2Entry.COPIED));
        assertEquals(L2Entry.Kind.NORMAL, L2Entry.kind(0x10000 | L2Entry.COPIED));
        assertEquals(L2Entry.Kind.COMPRESSED, L2Entry.kind(L2Entry.COMPRESSED | 12345));
        assertEquals(0x00ff_ffff_ffff_0000L, L2Entry.hostOffset(0xffff_ffff_ffff_0000L));
    }

    @Test
    void compressedEntriesRoundTripForEveryClusterSize() {
        for (int bits = 9; bits <= 21; bits++) {
            int x = L2Entry.compressedOffsetBits(bits);
            long host = (1L << x) - 7;
            int maxSectors = 1 << (62 - x);
            for (int sectors : new int[] {1, 2, maxSectors}) {
                long e = L2Entry.compressedEntry(host, sectors, bits);
                assertTrue(L2Entry.isCompressed(e));
                assertFalse(L2Entry.isCopied(e));
                assertEquals(host, L2Entry.compressedHostOffset(e, bits), "bits " + bits);
                assertEquals(sectors, L2Entry.compressedSectors(e, bits), "bits " + bits);
            }
        }
    }

    @Test
    void extendedBitmaps() {
        long b = L2Entry.bitmap(0x0000_00ff, 0xff00_0000);
        assertEquals(0xff, L2Entry.allocBits(b));
        assertEquals(0xff00_0000, L2Entry.zeroBits(b));
        assertEquals(0xff00_0000_0000_00ffL, b);
    }
}
