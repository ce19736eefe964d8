package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.storage.MemoryStorage;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static io.qjournal.qcow2.journal.format.JournalFixture.JOFF;
import static io.qjournal.qcow2.journal.format.JournalFixture.META;
import static io.qjournal.qcow2.journal.format.JournalFixture.META_END;
import static io.qjournal.qcow2.journal.format.JournalFixture.META_ONLY;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Damaged journals: whatever the damage, open/scan/recover either stop at the last valid
 * transaction (and replay exactly that prefix) or throw one IOException naming the file, and
 * never write outside the validated metadata range or the journal header.
 */
class JournalCorruptionTest {
    private static final long SIZE = 64 * 1024;
    private static final int TXS = 10;
    private static final int COMMITTED = 8;
    private static final long BASE_SEED = Long.getLong("journal.fuzz.seed", 20130906L);

    /** A journal of TXS write transactions and the metadata bytes after each prefix of them. */
    private record Built(byte[] image, List<Transaction> txs, byte[][] prefixes, int flags) {
        int expectedCommitted() {
            return (flags & JournalHeader.FLAG_DURABLE_COMMIT) != 0 ? TXS : COMMITTED;
        }
    }

    private static Built build(long seed, int flags) throws IOException {
        Random r = new Random(seed);
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, SIZE, 9, flags, 1 + r.nextInt(Integer.MAX_VALUE));
        byte[][] prefixes = new byte[TXS + 1][];
        byte[] model = new byte[(int) (META_END - META)];
        prefixes[0] = model.clone();
        int last = 0;
        for (int i = 0; i < TXS; i++) {
            TransactionBuilder tx = new TransactionBuilder();
            for (int k = 1 + r.nextInt(3); k > 0; k--) {
                int len = 1 + r.nextInt(1500);
                int at = r.nextInt(model.length - len);
                byte[] data = JournalFixture.pattern(r.nextLong(), len);
                tx.addWrite(META + at, data);
                System.arraycopy(data, 0, model, at, len);
            }
            last = j.append(tx);
            prefixes[i + 1] = model.clone();
            if (i + 1 == COMMITTED) {
                s.flush();
                j.markCommitted(last);
            }
        }
        List<Transaction> txs = Journal.open(s, JOFF, SIZE).scan().transactions();
        assertEquals(TXS, txs.size());
        return new Built(s.toByteArray(), txs, prefixes, flags);
    }

    @Test
    void randomByteFlips() throws IOException {
        for (int round = 0; round < 8; round++) {
            long seed = BASE_SEED + round;
            int flags = round % 4;
            Built b = build(seed, flags);
            int usedBytes = (int) (JOFF + 512 + b.txs().stream().mapToInt(Transaction::blocks).sum() * 512L);
            for (int i = 0; i < 150; i++) {
                long iterSeed = seed * 1000 + i;
                Random r = new Random(iterSeed);
                byte[] img = b.image().clone();
                // The draft's byte sum misses compensating changes in two bytes, so flip one byte there.
                int flips = (flags & JournalHeader.FLAG_CRC32C) != 0 ? 1 + r.nextInt(4) : 1;
                for (int f = 0; f < flips; f++) {
                    int at = r.nextInt(10) == 0 ? (int) JOFF + r.nextInt((int) SIZE)
                            : (int) JOFF + r.nextInt(usedBytes - (int) JOFF);
                    img[at] ^= (byte) (1 + r.nextInt(255));
                }
                check(b, img, "seed " + iterSeed + " flags " + flags);
            }
        }
    }

    @Test
    void truncatedImages() throws IOException {
        Built b = build(BASE_SEED, JournalHeader.FLAG_CRC32C | JournalHeader.FLAG_DURABLE_COMMIT);
        Random r = new Random(BASE_SEED);
        for (int i = 0; i < 60; i++) {
            int cut = (int) JOFF + r.nextInt((int) SIZE);
            MemoryStorage s = new MemoryStorage("test.img", b.image());
            s.truncate(cut);
            // Replay may grow the file again; the metadata area lies after the journal.
            check(b, s.toByteArray(), "cut at " + cut);
        }
    }

    /** Field values that no valid transaction has, sealed with a correct checksum. */
    @Test
    void lengthsAndIndicesBeyondTheBlockOrJournal() throws IOException {
        Built b = build(BASE_SEED, JournalHeader.FLAG_CRC32C);
        int bs = 512;
        for (int victim = 0; victim < TXS; victim++) {
            Transaction t = b.txs().get(victim);
            long n = SIZE / bs - 1;
            List<int[]> patches = new ArrayList<>(); // {byte offset in descriptor block, value}
            for (int v : new int[] {0, 23, bs + 1, -1}) {
                patches.add(new int[] {12, v});
            }
            for (int v : new int[] {bs - 24 + 1, -1, t.descBytes() + 1, t.descBytes() - 1}) {
                patches.add(new int[] {16, v});
            }
            for (int v : new int[] {(int) n, -1, (int) n - t.index() + 1, t.dataBlocks() - 1}) {
                patches.add(new int[] {20, v});
            }
            for (int v : new int[] {-1, 0, (t.dataBlocks() + 1) * bs}) {
                patches.add(new int[] {28, v}); // first write entry: length
            }
            for (int v : new int[] {0, t.index(), t.index() + t.dataBlocks() + 1, -1}) {
                patches.add(new int[] {40, v}); // first write entry: data block index
            }
            for (int v : new int[] {0x00010000, 0x00010003, 0x0001FFFF, 0x00090004}) {
                patches.add(new int[] {24, v}); // first descriptor: type and size
            }
            for (int[] p : patches) {
                MemoryStorage s = new MemoryStorage("test.img", b.image());
                JournalLayout l = new JournalLayout(s, JOFF, SIZE, 9);
                s.write(l.blockOffset(t.index()) + p[0], ByteBuffer.allocate(4).putInt(0, p[1]));
                JournalFixture.resealBlock(s, l, ChecksumKind.CRC32C, t.index());
                String what = "tx " + victim + " field " + p[0] + " = " + Integer.toUnsignedString(p[1]);
                ScanResult scan = Journal.open(s, JOFF, SIZE).scan();
                assertEquals(victim, scan.transactions().size(), what + ": " + scan.endReason());
                check(b, s.toByteArray(), what);
            }
        }
    }

    private static void check(Built b, byte[] img, String what) {
        JournalFixture.RecordingStorage s = new JournalFixture.RecordingStorage(img);
        try {
            Journal j = Journal.open(s, JOFF, SIZE);
            ScanResult scan = j.scan();
            List<Transaction> found = scan.transactions();
            assertTrue(found.size() <= TXS, what);
            assertEquals(b.txs().subList(0, found.size()), found, what + ": not a prefix of the written chain");
            JournalReplayer.Result r = j.recover(s, META_ONLY, DedupIndex.NONE);
            assertTrue(r.transactions() == b.expectedCommitted() || r.transactions() == found.size(), what);
            assertArrayEquals(b.prefixes()[r.transactions()],
                    Arrays.copyOfRange(s.toByteArray(), (int) META, (int) META_END), what);
            for (long[] w : s.writes) {
                boolean meta = w[0] >= META && w[0] + w[1] <= META_END;
                boolean header = w[0] == JOFF && w[1] == JournalHeader.HEADER_BYTES;
                assertTrue(meta || header, what + ": wrote " + w[1] + " bytes at " + w[0]);
            }
        } catch (IOException e) {
            assertTrue(e.getMessage().startsWith("test.img: journal at 0x10000: "), what + ": " + e.getMessage());
            assertTrue(s.writes.isEmpty(), what + ": wrote before failing: " + e.getMessage());
        } catch (RuntimeException | AssertionError e) {
            fail(what + ": " + e, e);
        }
    }
}
