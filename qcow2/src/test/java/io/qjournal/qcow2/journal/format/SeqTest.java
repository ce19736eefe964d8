package io.qjournal.qcow2.journal.format;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SeqTest {
    @Test
    void successorSkipsZero() {
        assertEquals(2, Seq.next(1));
        assertEquals(1, Seq.next(0xFFFFFFFF));
        assertEquals(1, Seq.next(0));
        assertEquals(0x80000000, Seq.next(0x7FFFFFFF));
    }

    @Test
    void predecessorIsInverseOfSuccessor() {
        for (int s : new int[] {1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF}) {
            assertEquals(s, Seq.next(Seq.prev(s)), "seq " + Seq.str(s));
        }
        assertEquals(0xFFFFFFFF, Seq.prev(1));
    }

    @Test
    void addAndDistanceAcrossWraparound() {
        assertEquals(3, Seq.add(0xFFFFFFFE, 4)); // ...FE, FF, 1, 2, 3
        assertEquals(4, Seq.distance(0xFFFFFFFE, 3));
        assertEquals(1, Seq.distance(0, 1));
        assertEquals(0, Seq.distance(0, 0xFFFFFFFF));
        assertEquals(0xFFFFFFFE, Seq.add(0xFFFFFFFE, 0xFFFFFFFFL));
        assertThrows(IllegalArgumentException.class, () -> Seq.add(1, -1));
    }

    @Test
    void serialComparison() {
        assertTrue(Seq.isAfter(1, 0xFFFFFFFF));
        assertTrue(Seq.isAfter(5, 0xFFFFFFF0));
        assertFalse(Seq.isAfter(0xFFFFFFF0, 5));
        assertFalse(Seq.isAfter(7, 7));
        assertTrue(Seq.isAfter(0x40000000, 1));
        assertFalse(Seq.isAfter(0x90000000, 1)); // more than half the ring ahead counts as behind
    }
}
