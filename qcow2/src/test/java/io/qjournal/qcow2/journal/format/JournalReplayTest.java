package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.storage.MemoryStorage;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import static io.qjournal.qcow2.journal.format.JournalFixture.JOFF;
import static io.qjournal.qcow2.journal.format.JournalFixture.META;
import static io.qjournal.qcow2.journal.format.JournalFixture.META_END;
import static io.qjournal.qcow2.journal.format.JournalFixture.META_ONLY;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JournalReplayTest {
    private static final long SIZE = 64 * 1024;
    private static final int BASE = (int) META;

    /** The image before recovery and the bytes the metadata area must hold after it. */
    private record Scenario(byte[] image, byte[] expected) {
    }

    /**
     * tx1 writes A at [0, 4096) and B at [8192, 9216); tx2 copies [0, 512) to [12288, 12800)
     * (source written by tx1: allowed) and revokes [16384, 16484) (cancelling nothing later);
     * tx3 writes C at [16384, 16484); tx4 revokes [1024, 2048) (partial: tx1's A) and
     * [8192, 9216) (all of B) and [12288, 12300) (head of tx2's copy) and writes D at
     * [1536, 1636) (its own write is not revoked). All offsets relative to META.
     */
    private static Scenario scenario() throws IOException {
        MemoryStorage s = JournalFixture.image();
        byte[] initial = JournalFixture.pattern(99, (int) (META_END - META));
        s.write(META, initial, 0, initial.length);
        Journal j = Journal.format(s, JOFF, SIZE, 9, true, 1);
        byte[] a = JournalFixture.pattern(1, 4096);
        byte[] b = JournalFixture.pattern(2, 1024);
        byte[] c = JournalFixture.pattern(3, 100);
        byte[] d = JournalFixture.pattern(4, 100);
        j.append(new TransactionBuilder().addWrite(META, a).addWrite(META + 8192, b));
        j.append(new TransactionBuilder().addCopy(META + 12288, META, 512).addRevoke(META + 16384, 100));
        j.append(new TransactionBuilder().addWrite(META + 16384, c));
        int last = j.append(new TransactionBuilder().addRevoke(META + 1024, 1024).addRevoke(META + 8192, 1024)
                .addRevoke(META + 12288, 12).addWrite(META + 1536, d));
        s.flush();
        j.markCommitted(last);
        byte[] exp = initial.clone();
        System.arraycopy(a, 0, exp, 0, 1024);
        System.arraycopy(a, 2048, exp, 2048, 2048);
        System.arraycopy(a, 12, exp, 12288 + 12, 500);
        System.arraycopy(c, 0, exp, 16384, 100);
        System.arraycopy(d, 0, exp, 1536, 100);
        return new Scenario(s.toByteArray(), exp);
    }

    private static byte[] meta(MemoryStorage s) {
        return Arrays.copyOfRange(s.toByteArray(), BASE, (int) META_END);
    }

    @Test
    void revokesCancelEarlierTransactionsFullyOrPartially() throws IOException {
        Scenario sc = scenario();
        MemoryStorage s = new MemoryStorage("test.img", sc.image());
        JournalReplayer.Result r = Journal.open(s, JOFF, SIZE).recover(s, META_ONLY, DedupIndex.NONE);
        assertEquals(4, r.transactions());
        assertArrayEquals(sc.expected(), meta(s));
        assertEquals(1024 + 2048 + 500 + 100 + 100, r.bytesWritten());
        Journal after = Journal.open(s, JOFF, SIZE);
        assertEquals(0, after.header().syncedIndex());
        assertEquals(after.header().syncedSeq(), after.header().committedSeq());
        assertEquals(0, after.recover(s, META_ONLY, DedupIndex.NONE).transactions()); // nothing left
        assertArrayEquals(sc.expected(), meta(s));
    }

    @Test
    void replayingTwiceGivesTheSameBytes() throws IOException {
        Scenario sc = scenario();
        MemoryStorage s = new MemoryStorage("test.img", sc.image());
        Journal j = Journal.open(s, JOFF, SIZE);
        ScanResult scan = j.scan();
        JournalReplayer.replay(j.layout(), scan, s, META_ONLY, DedupIndex.NONE);
        byte[] once = s.toByteArray();
        JournalReplayer.replay(j.layout(), scan, s, META_ONLY, DedupIndex.NONE);
        assertArrayEquals(once, s.toByteArray());
        assertArrayEquals(sc.expected(), meta(s));
    }

    @Test
    void crashAtEveryWriteThenReplayAgainGivesTheSameResult() throws IOException {
        Scenario sc = scenario();
        for (int allowed = 0; ; allowed++) {
            JournalFixture.CrashingStorage crashing = new JournalFixture.CrashingStorage(sc.image(), allowed);
            boolean crashed = false;
            try {
                Journal.open(crashing, JOFF, SIZE).recover(crashing, META_ONLY, DedupIndex.NONE);
            } catch (IOException e) {
                assertTrue(e.getMessage().contains("simulated crash"), e.getMessage());
                crashed = true;
            }
            MemoryStorage again = new MemoryStorage("test.img", crashing.toByteArray());
            Journal.open(again, JOFF, SIZE).recover(again, META_ONLY, DedupIndex.NONE);
            assertArrayEquals(sc.expected(), meta(again), "crash after " + allowed + " writes");
            if (!crashed) {
                assertTrue(allowed > 5, "the scenario has more than 5 writes");
                break;
            }
        }
    }

    @Test
    void validatorRefusalLeavesTheImageUntouched() throws IOException {
        Scenario sc = scenario();
        JournalFixture.RecordingStorage s = new JournalFixture.RecordingStorage(sc.image());
        TargetValidator narrow = (offset, length) -> {
            if (offset + length > META + 16384) {
                throw new IOException("test.img: 0x" + Long.toHexString(offset) + " is not metadata");
            }
        };
        IOException e = assertThrows(IOException.class,
                () -> Journal.open(s, JOFF, SIZE).recover(s, narrow, DedupIndex.NONE));
        assertTrue(e.getMessage().contains("is not metadata"), e.getMessage());
        assertTrue(s.writes.isEmpty());
    }

    @Test
    void copySourceOverwrittenLaterIsRefused() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, true, 1);
        j.append(new TransactionBuilder().addCopy(META + 4096, META, 512));
        j.append(new TransactionBuilder().addWrite(META + 8192, new byte[100]));
        j.markCommitted(2);
        // Point tx2's write (target u64 at byte 24 + 4 + 4 of its block 2) into the copy source.
        s.write(j.layout().blockOffset(2) + 32, ByteBuffer.allocate(8).putLong(0, META + 100));
        JournalFixture.resealBlock(s, j.layout(), ChecksumKind.CRC32C, 2);
        byte[] before = s.toByteArray();
        IOException e = assertThrows(IOException.class,
                () -> Journal.open(s, JOFF, SIZE).recover(s, META_ONLY, DedupIndex.NONE));
        assertTrue(e.getMessage().contains("would not be repeatable"), e.getMessage());
        assertArrayEquals(before, s.toByteArray());
    }

    @Test
    void replayNeverWritesIntoTheJournal() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, false, 1);
        j.append(new TransactionBuilder().addWrite(META, new byte[100]));
        j.markCommitted(1);
        s.write(j.layout().blockOffset(1) + 32, ByteBuffer.allocate(8).putLong(0, JOFF + 1024));
        JournalFixture.resealBlock(s, j.layout(), ChecksumKind.DRAFT_SUM, 1);
        byte[] before = s.toByteArray();
        IOException e = assertThrows(IOException.class,
                () -> Journal.open(s, JOFF, SIZE).recover(s, TargetValidator.ANY, DedupIndex.NONE));
        assertTrue(e.getMessage().contains("into the journal itself"), e.getMessage());
        assertArrayEquals(before, s.toByteArray());
    }

    @Test
    void missingCommittedTransactionIsAnErrorNotASilentLoss() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, true, 1);
        j.append(new TransactionBuilder().addWrite(META, new byte[100]));
        j.append(new TransactionBuilder().addWrite(META + 512, new byte[100]));
        j.markCommitted(2);
        s.write(j.layout().blockOffset(3) + 5, new byte[] {1}, 0, 1);
        byte[] before = s.toByteArray();
        Journal opened = Journal.open(s, JOFF, SIZE);
        assertTrue(opened.scan().committedMissing());
        IOException e = assertThrows(IOException.class, () -> opened.recover(s, META_ONLY, DedupIndex.NONE));
        assertTrue(e.getMessage().startsWith("test.img: journal at 0x10000: committed transaction 2 is missing"),
                e.getMessage());
        assertArrayEquals(before, s.toByteArray());
    }

    @Test
    void dedupDescriptorsReachTheSinkInOrderAndRevokeCancelsInsertions() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, true, 1);
        byte[] h1 = JournalFixture.pattern(1, 32);
        byte[] h2 = JournalFixture.pattern(2, 32);
        j.append(new TransactionBuilder().addDedupInsert(h1, 0x100000).addDedupInsert(h2, 0x200000));
        j.append(new TransactionBuilder().addDedupDelete(h1, 0x100000).addRevoke(0x200000, 0x10000)
                .addDedupInsert(h2, 0x200000));
        j.markCommitted(2);
        List<String> calls = new ArrayList<>();
        DedupIndex sink = new DedupIndex() {
            @Override
            public void insert(byte[] hash, long host) {
                calls.add("insert " + HexFormat.of().formatHex(hash, 0, 2) + " " + Long.toHexString(host));
            }

            @Override
            public void delete(byte[] hash, long host) {
                calls.add("delete " + HexFormat.of().formatHex(hash, 0, 2) + " " + Long.toHexString(host));
            }
        };
        Journal.open(s, JOFF, SIZE).recover(s, META_ONLY, sink);
        String x1 = HexFormat.of().formatHex(h1, 0, 2);
        String x2 = HexFormat.of().formatHex(h2, 0, 2);
        assertEquals(List.of("insert " + x1 + " 100000", "delete " + x1 + " 100000", "insert " + x2 + " 200000"), calls);
    }
}
