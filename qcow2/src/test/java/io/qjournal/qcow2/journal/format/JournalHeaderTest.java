package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.storage.MemoryStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;

import static io.qjournal.qcow2.journal.format.JournalFixture.JOFF;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JournalHeaderTest {
    private static final long SIZE = 64 * 1024;

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3})
    void formatThenOpenRoundTrips(int flags) throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal.format(s, JOFF, SIZE, 12, flags, 0x1234);
        JournalHeader h = Journal.open(s, JOFF, SIZE).header();
        assertEquals(new JournalHeader(SIZE, 12, 0, 0x1233, 0x1233, flags), h);
        assertEquals(15, h.blockCount());
        assertEquals((flags & 1) != 0 ? ChecksumKind.CRC32C : ChecksumKind.DRAFT_SUM, h.checksumKind());
    }

    @Test
    void firstSequenceOneStoresZeroAsTheDraftRecommends() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal.format(s, JOFF, SIZE, 9, true, 1);
        assertEquals(0, Journal.open(s, JOFF, SIZE).header().syncedSeq());
        byte[] b = new byte[8];
        s.read(JOFF, ByteBuffer.wrap(b));
        assertEquals("qjournal", new String(b, java.nio.charset.StandardCharsets.US_ASCII));
    }

    @Test
    void headerIsBigEndianAtDraftOffsets() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal.format(s, JOFF, SIZE, 10, 3, 0x01020304);
        ByteBuffer b = ByteBuffer.wrap(s.toByteArray(), (int) JOFF, 512).slice();
        assertEquals(SIZE, b.getInt(8));
        assertEquals(10, b.getInt(12));
        assertEquals(0, b.getInt(16));
        assertEquals(0x01020303, b.getInt(20));
        assertEquals(0x01020303, b.getInt(24));
        assertEquals(3, b.getInt(32));
        for (int i = 36; i < 512; i++) {
            assertEquals(0, b.get(i), "reserved byte " + i);
        }
    }

    @Test
    void badMagic() throws IOException {
        MemoryStorage s = formatted();
        s.write(JOFF, new byte[] {'x'}, 0, 1);
        assertProblem(s, "bad journal header magic");
    }

    @ParameterizedTest
    @ValueSource(ints = {9, 14, 20, 27, 30, 33, 35, 100, 511, 700})
    void flippedByteBreaksChecksum(int at) throws IOException {
        for (int flags : new int[] {0, 1}) {
            MemoryStorage s = JournalFixture.image();
            Journal.format(s, JOFF, SIZE, 10, flags, 5);
            byte[] one = new byte[1];
            s.read(JOFF + at, one, 0, 1);
            one[0] ^= 0x10;
            s.write(JOFF + at, one, 0, 1);
            // size and block order are checked before the checksum
            assertProblem(s, at < 12 ? "does not match" : at < 16 ? "order" : "checksum");
        }
    }

    @Test
    void blockOrderOutOfRange() throws IOException {
        for (int order : new int[] {8, 17, 22, -1}) {
            MemoryStorage s = formatted();
            JournalFixture.patchHeader(s, JOFF, JournalHeader.BLOCK_ORDER_OFFSET, order, 1024);
            assertProblem(s, "order");
        }
        MemoryStorage s = formatted();
        assertThrows(IOException.class, () -> Journal.open(s, JOFF, SIZE, 9)); // cluster_bits 9 < order 10
    }

    @Test
    void sizeMismatch() throws IOException {
        MemoryStorage s = formatted();
        JournalFixture.patchHeader(s, JOFF, JournalHeader.SIZE_OFFSET, (int) SIZE * 2, 1024);
        assertProblem(s, "does not match");
        MemoryStorage s2 = formatted();
        IOException e = assertThrows(IOException.class, () -> Journal.open(s2, JOFF, SIZE / 2));
        assertTrue(e.getMessage().contains("does not match"), e.getMessage());
    }

    @Test
    void indicesAndSequencesOutOfRange() throws IOException {
        MemoryStorage s = formatted();
        JournalFixture.patchHeader(s, JOFF, JournalHeader.SYNCED_INDEX_OFFSET, 64, 1024);
        assertProblem(s, "beyond");
        s = formatted();
        JournalFixture.patchHeader(s, JOFF, JournalHeader.SYNCED_INDEX_OFFSET, -1, 1024);
        assertProblem(s, "beyond");
        s = formatted();
        JournalFixture.patchHeader(s, JOFF, JournalHeader.COMMITTED_SEQ_OFFSET, 5 + 1000, 1024);
        assertProblem(s, "committed sequence");
        s = formatted();
        JournalFixture.patchHeader(s, JOFF, JournalHeader.FLAGS_OFFSET, 4, 1024);
        assertProblem(s, "unsupported journal flags");
        s = formatted();
        JournalFixture.patchHeader(s, JOFF, JournalHeader.SYNCED_SEQ_OFFSET, 0, 1024);
        JournalFixture.patchHeader(s, JOFF, JournalHeader.SYNCED_INDEX_OFFSET, 1, 1024);
        assertProblem(s, "synced sequence 0");
    }

    @Test
    void syncedIndexNotHoldingSyncedTransactionFailsScan() throws IOException {
        MemoryStorage s = formatted();
        JournalFixture.patchHeader(s, JOFF, JournalHeader.SYNCED_INDEX_OFFSET, 3, 1024);
        Journal j = Journal.open(s, JOFF, SIZE);
        IOException e = assertThrows(IOException.class, j::scan);
        assertTrue(e.getMessage().startsWith("test.img: journal at 0x10000: synced index 3"), e.getMessage());
    }

    @Test
    void areaOutOfRangeAndFormatArguments() throws IOException {
        MemoryStorage s = formatted();
        assertThrows(IOException.class, () -> Journal.open(s, JOFF, 512));
        assertThrows(IOException.class, () -> Journal.open(s, -1, SIZE));
        assertThrows(IOException.class, () -> Journal.open(s, JOFF, 1L << 33));
        assertThrows(IllegalArgumentException.class, () -> Journal.format(s, JOFF, 1000, 9, true, 1));
        assertThrows(IllegalArgumentException.class, () -> Journal.format(s, JOFF, 1024, 10, true, 1));
        assertThrows(IllegalArgumentException.class, () -> Journal.format(s, JOFF, SIZE, 8, true, 1));
        assertThrows(IllegalArgumentException.class, () -> Journal.format(s, JOFF, SIZE, 9, true, 0));
        assertThrows(IllegalArgumentException.class, () -> Journal.format(s, JOFF, SIZE, 9, 8, 1));
    }

    @Test
    void formatZeroesStaleRingContents() throws IOException {
        MemoryStorage s = JournalFixture.image();
        byte[] junk = JournalFixture.pattern(3, (int) SIZE);
        s.write(JOFF, junk, 0, junk.length);
        Journal.format(s, JOFF, SIZE, 10, true, 1);
        byte[] all = s.toByteArray();
        for (long i = JOFF + 512; i < JOFF + SIZE; i++) {
            assertEquals(0, all[(int) i], "byte " + i);
        }
    }

    private static MemoryStorage formatted() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal.format(s, JOFF, SIZE, 10, true, 5);
        return s;
    }

    private static void assertProblem(MemoryStorage s, String what) {
        IOException e = assertThrows(IOException.class, () -> Journal.open(s, JOFF, SIZE));
        assertTrue(e.getMessage().startsWith("test.img: journal at 0x10000: "), e.getMessage());
        assertTrue(e.getMessage().contains(what), e.getMessage());
    }
}
