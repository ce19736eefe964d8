package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.storage.MemoryStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;

import static io.qjournal.qcow2.journal.format.JournalFixture.JOFF;
import static io.qjournal.qcow2.journal.format.JournalFixture.META;
import static io.qjournal.qcow2.journal.format.JournalFixture.META_ONLY;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JournalRingTest {
    /** 16 ring blocks of 512 bytes. */
    private static final long SIZE = 17 * 512;

    private static TransactionBuilder write(long target, int len, long seed) {
        return new TransactionBuilder().addWrite(target, JournalFixture.pattern(seed, len));
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void appendScanRoundTrip(boolean crc) throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, crc, 7);
        byte[] hash = JournalFixture.pattern(9, 32);
        TransactionBuilder tx = new TransactionBuilder()
                .addWrite(META, JournalFixture.pattern(1, 1000))
                .addWrite(META + 4096, JournalFixture.pattern(2, 10))
                .addCopy(META + 8192, META + 16384, 300)
                .addRevoke(META + 65536, 4096)
                .addDedupInsert(hash, 0x50000)
                .addDedupDelete(hash, 0x60000);
        assertEquals(4, j.blocksNeeded(tx));
        assertEquals(7, j.append(tx));
        s.flush();
        j.markCommitted(7);
        ScanResult scan = Journal.open(s, JOFF, SIZE).scan();
        assertNull(scan.anchor());
        assertEquals(1, scan.transactions().size());
        assertEquals(1, scan.committedCount());
        Transaction t = scan.transactions().get(0);
        assertEquals(new Transaction(7, 1, 3, 24, t.descBytes(), List.of(
                new Descriptor.Write(List.of(new Descriptor.WriteEntry(1000, META, 2),
                        new Descriptor.WriteEntry(10, META + 4096, 4))),
                new Descriptor.Copy(List.of(new Descriptor.CopyEntry(300, META + 8192, META + 16384))),
                new Descriptor.Revoke(List.of(new Descriptor.Range(META + 65536, 4096))),
                new Descriptor.Dedup(true, List.of(new Descriptor.DedupEntry(hash, 0x50000))),
                new Descriptor.Dedup(false, List.of(new Descriptor.DedupEntry(hash, 0x60000))))), t);
        assertEquals(4 + 32 + 24 + 16 + 44 + 44, t.descBytes());
        assertEquals(5, scan.endIndex());
        assertEquals(8, scan.endSeq());
        byte[] stored = new byte[1000];
        s.read(JOFF + 2 * 512, stored, 0, 1000);
        assertArrayEquals(JournalFixture.pattern(1, 1000), stored);
    }

    @Test
    void wrapsWithNoOpPaddingAndNeverOverwritesUnsynced() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, true, 1);
        for (int i = 0; i < 5; i++) { // blocks 1, 4, 7, 10, 13; head at 16
            assertEquals(i + 1, j.append(write(META + i * 1024, 1024, i)));
        }
        assertEquals(1, j.freeBlocks());
        j.checkpointed(3); // anchor: transaction 3 at block 7; 4 and 5 stay live
        assertEquals(7, j.header().syncedIndex());
        assertEquals(7, j.freeBlocks());
        assertEquals(7, j.append(write(META + 5 * 1024, 1024, 5))); // padding took seq 6
        assertEquals(3, j.freeBlocks());
        assertEquals(8, j.append(write(META + 6 * 1024, 1024, 6))); // blocks 4..6
        assertEquals(0, j.freeBlocks());
        byte[] before = s.toByteArray();
        JournalFullException full = assertThrows(JournalFullException.class, () -> j.append(write(META, 10, 0)));
        assertEquals(2, full.neededBlocks());
        assertEquals(0, full.freeBlocks());
        assertArrayEquals(before, s.toByteArray());
        j.markCommitted(8);

        ScanResult scan = Journal.open(s, JOFF, SIZE).scan();
        assertEquals(3, scan.anchor().seq());
        assertEquals(List.of(4, 5, 6, 7, 8), scan.transactions().stream().map(Transaction::seq).toList());
        assertEquals(List.of(10, 13, 16, 1, 4), scan.transactions().stream().map(Transaction::index).toList());
        Transaction pad = scan.transactions().get(2);
        assertTrue(pad.isNoOp());
        assertEquals(0, pad.dataBlocks());
        assertEquals(5, scan.committedCount());
        assertEquals(7, scan.endIndex()); // back at the anchor: ring exhausted
        assertEquals("ring exhausted", scan.endReason());

        j.checkpointed(8); // everything synced: the ring restarts empty
        assertEquals(0, j.header().syncedIndex());
        assertEquals(16, j.freeBlocks());
        assertEquals(9, j.append(write(META, 7 * 512, 9)));
        assertEquals(1, Journal.open(s, JOFF, SIZE).scan().transactions().get(0).index());
    }

    @Test
    void paddingOfSeveralBlocksIsZeroFilledAndChecksummed() throws IOException {
        for (boolean crc : new boolean[] {false, true}) {
            MemoryStorage s = JournalFixture.image();
            Journal j = Journal.format(s, JOFF, SIZE, 9, crc, 1);
            j.append(write(META, 512 * 8, 1)); // blocks 1..9
            j.append(write(META, 100, 2)); // blocks 10..11
            j.append(write(META, 100, 3)); // blocks 12..13
            j.checkpointed(2); // anchor at 10, transaction 3 live
            s.write(j.layout().blockOffset(14), JournalFixture.pattern(1, 512 * 3), 0, 512 * 3); // stale bytes
            assertEquals(5, j.append(write(META, 512 * 4, 4))); // 5 blocks: padding 14..16 (seq 4), then 1..5
            ScanResult scan = Journal.open(s, JOFF, SIZE).scan();
            assertEquals(List.of(3, 4, 5), scan.transactions().stream().map(Transaction::seq).toList());
            Transaction pad = scan.transactions().get(1);
            assertEquals(14, pad.index());
            assertEquals(2, pad.dataBlocks());
            assertTrue(pad.isNoOp());
            assertEquals(1, scan.transactions().get(2).index());
            assertEquals(6, scan.endIndex()); // block 6 holds data of transaction 1
            assertTrue(scan.endReason().contains("magic"), scan.endReason());
        }
    }

    @Test
    void oversizedTransactionsAreRejectedClearly() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, true, 1);
        TransactionBuilder big = write(META, 16 * 512, 1);
        assertEquals(-1, j.blocksNeeded(big));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> j.append(big));
        assertTrue(e.getMessage().contains("17 journal blocks"), e.getMessage());
        TransactionBuilder revokes = new TransactionBuilder();
        for (int i = 0; i < 40; i++) {
            revokes.addRevoke(META + i * 4096L, 512);
        }
        assertEquals(1, j.blocksNeeded(revokes)); // 4 + 40 * 12 = 484 <= 488
        revokes.addRevoke(0, 1);
        assertThrows(IllegalArgumentException.class, () -> j.append(revokes));
        assertThrows(IllegalArgumentException.class, () -> j.append(new TransactionBuilder()));
        assertEquals(16, j.blocksNeeded(write(META, 15 * 512, 1)));
        assertEquals(1, j.append(write(META, 15 * 512, 1))); // exactly the whole ring
    }

    @Test
    void sequenceNumbersWrapFromFfffffffToOne() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, true, 0xFFFFFFFE);
        int[] seqs = new int[4];
        for (int i = 0; i < 4; i++) {
            seqs[i] = j.append(write(META + i * 512, 100, i));
        }
        assertArrayEquals(new int[] {0xFFFFFFFE, 0xFFFFFFFF, 1, 2}, seqs);
        s.flush();
        j.markCommitted(2);
        Journal reopened = Journal.open(s, JOFF, SIZE);
        assertEquals(0xFFFFFFFD, reopened.header().syncedSeq());
        ScanResult scan = reopened.scan();
        assertEquals(4, scan.committedCount());
        assertEquals(2, scan.lastSeq());
        JournalReplayer.Result r = reopened.recover(s, META_ONLY, DedupIndex.NONE);
        assertEquals(4, r.transactions());
        assertEquals(2, r.lastSeq());
        for (int i = 0; i < 4; i++) {
            byte[] got = new byte[100];
            s.read(META + i * 512, got, 0, 100);
            assertArrayEquals(JournalFixture.pattern(i, 100), got);
        }
        assertEquals(Seq.add(2, 16), reopened.header().syncedSeq());
        assertEquals(Seq.add(2, 17), reopened.append(write(META, 1, 1)));
    }

    @Test
    void durableCommitFlagAcceptsValidTransactionsBeyondCommittedSeq() throws IOException {
        for (int flags : new int[] {JournalHeader.FLAG_CRC32C, JournalHeader.FLAG_CRC32C | JournalHeader.FLAG_DURABLE_COMMIT}) {
            MemoryStorage s = JournalFixture.image();
            Journal j = Journal.format(s, JOFF, SIZE, 9, flags, 1);
            j.append(write(META, 100, 1));
            j.append(write(META + 512, 100, 2));
            s.flush();
            j.markCommitted(1);
            Journal reopened = Journal.open(s, JOFF, SIZE);
            boolean durable = (flags & JournalHeader.FLAG_DURABLE_COMMIT) != 0;
            ScanResult scan = reopened.scan();
            assertEquals(2, scan.transactions().size());
            assertEquals(durable ? 2 : 1, scan.committedCount());
            assertEquals(durable ? 0 : 1, scan.discarded().size());
            reopened.recover(s, META_ONLY, DedupIndex.NONE);
            byte[] got = new byte[100];
            s.read(META + 512, got, 0, 100);
            assertEquals(durable, Arrays.equals(JournalFixture.pattern(2, 100), got), "flags " + flags);
        }
    }

    @Test
    void chainEndsAtWrongSequenceBadChecksumOrTornBlock() throws IOException {
        for (String damage : new String[] {"seq", "data", "torn-descriptor", "stale"}) {
            MemoryStorage s = JournalFixture.image();
            Journal j = Journal.format(s, JOFF, SIZE, 9, true, 1);
            JournalLayout l = j.layout();
            j.append(write(META, 600, 1)); // blocks 1..3
            byte[] staleBlock4 = JournalFixture.pattern(4, 512); // left by an earlier use of the ring
            s.write(l.blockOffset(4), staleBlock4, 0, 512);
            j.append(write(META + 1024, 600, 2)); // blocks 4..6
            j.append(write(META + 2048, 600, 3)); // blocks 7..9
            switch (damage) {
                case "seq" -> {
                    s.write(l.blockOffset(4) + 8, new byte[] {0, 0, 0, 3}, 0, 4);
                    JournalFixture.resealBlock(s, l, ChecksumKind.CRC32C, 4);
                }
                case "data" -> s.write(l.blockOffset(5) + 77, new byte[] {42}, 0, 1);
                case "torn-descriptor" -> s.write(l.blockOffset(4) + 256, staleBlock4, 256, 256);
                default -> s.write(l.blockOffset(4), staleBlock4, 0, 512);
            }
            ScanResult scan = Journal.open(s, JOFF, SIZE).scan();
            assertEquals(List.of(1), scan.transactions().stream().map(Transaction::seq).toList(), damage);
            assertEquals(4, scan.endIndex());
            assertEquals(2, scan.endSeq());
            String expected = switch (damage) {
                case "seq" -> "sequence 3 where 2 was expected";
                case "stale" -> "no descriptor block magic";
                default -> "checksum mismatch";
            };
            assertTrue(scan.endReason().contains(expected), damage + ": " + scan.endReason());
        }
    }

    @Test
    void partialCheckpointKeepsAnchorAndScanStartsThere() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, false, 100);
        j.append(write(META, 600, 1));
        j.append(write(META, 600, 2));
        j.append(write(META, 600, 3));
        j.checkpointed(101);
        assertEquals(new JournalHeader(SIZE, 9, 4, 101, 101, 0), Journal.open(s, JOFF, SIZE).header());
        ScanResult scan = Journal.open(s, JOFF, SIZE).scan();
        assertEquals(101, scan.anchor().seq());
        assertEquals(List.of(102), scan.transactions().stream().map(Transaction::seq).toList());
        assertEquals(0, scan.committedCount());
        assertThrows(IllegalArgumentException.class, () -> j.checkpointed(100)); // already synced
        assertThrows(IllegalArgumentException.class, () -> j.markCommitted(105));
        assertFalse(Journal.open(s, JOFF, SIZE).isWritable());
        assertThrows(IllegalStateException.class, () -> Journal.open(s, JOFF, SIZE).append(write(META, 1, 1)));
    }

    @Test
    void transactionsLeftBeyondATornOneNeverJoinTheNewChain() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, JournalHeader.FLAG_CRC32C | JournalHeader.FLAG_DURABLE_COMMIT, 1);
        j.append(write(META, 600, 1)); // blocks 1..3, torn below
        j.append(write(META + 1024, 600, 2)); // blocks 4..6, durable: reordered writes
        s.write(j.layout().blockOffset(2), new byte[1], 0, 1);
        Journal reopened = Journal.open(s, JOFF, SIZE);
        assertEquals(0, reopened.recover(s, META_ONLY, DedupIndex.NONE).transactions());
        reopened.append(write(META + 4096, 600, 3)); // blocks 1..3 again, with a fresh sequence number
        ScanResult scan = Journal.open(s, JOFF, SIZE).scan();
        assertEquals(1, scan.transactions().size());
        assertEquals(4, scan.endIndex());
        assertTrue(scan.endReason().contains("sequence 2 where"), scan.endReason());
    }

    @Test
    void unsyncedCopySourceCannotBeOverwritten() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, true, 1);
        int copySeq = j.append(new TransactionBuilder().addCopy(META, META + 8192, 1024));
        assertThrows(CopySourceConflictException.class, () -> j.append(write(META + 8192 + 1000, 100, 1)));
        assertThrows(CopySourceConflictException.class, () -> j.append(new TransactionBuilder()
                .addCopy(META + 20000, META + 30000, 10).addWrite(META + 30005, new byte[1])));
        j.append(write(META + 8192 + 1024, 100, 1)); // adjacent, not overlapping
        j.checkpointed(copySeq);
        j.append(write(META + 8192, 100, 1));
        ScanResult scan = Journal.open(s, JOFF, SIZE).scan();
        assertEquals(copySeq, scan.anchor().seq());
        assertEquals(2, scan.transactions().size());
    }

    @Test
    void emptyJournalScansToNothing() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal.format(s, JOFF, SIZE, 9, true, 1);
        ScanResult scan = Journal.open(s, JOFF, SIZE).scan();
        assertTrue(scan.transactions().isEmpty());
        assertEquals(1, scan.endIndex());
        assertFalse(scan.committedMissing());
    }
}
