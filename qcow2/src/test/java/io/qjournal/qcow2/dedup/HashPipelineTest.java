package io.qjournal.qcow2.dedup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.storage.ForwardingStorage;
import io.qjournal.qcow2.storage.MemoryStorage;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The scan's read-and-fingerprint pipeline hands out the right fingerprints, in order, within its bounds. */
class HashPipelineTest {
    private static final int CB = 16;
    private static final int CS = 1 << CB;

    @TempDir
    Path dir;

    /** 40 clusters: random ones, every fifth all zero; candidates skip every seventh cluster. */
    private static byte[] content() {
        byte[] b = new byte[40 * CS];
        new Random(7).nextBytes(b);
        for (int i = 0; i < 40; i += 5) {
            Arrays.fill(b, i * CS, (i + 1) * CS, (byte) 0);
        }
        return b;
    }

    private static long[] candidates() {
        return java.util.stream.LongStream.range(0, 40).filter(i -> i % 7 != 3).map(i -> i * CS).toArray();
    }

    /** Runs of contiguous candidates, at most {@code per} clusters each, as the scan makes them. */
    private static List<int[]> runs(long[] hosts, int per) {
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < hosts.length; ) {
            int j = i + 1;
            while (j < hosts.length && j - i < per && hosts[j] == hosts[j - 1] + CS) {
                j++;
            }
            out.add(new int[] {i, j});
            i = j;
        }
        return out;
    }

    /** The fingerprint computed independently: CRC-32C of the bytes, then CRC-32 of them. */
    private static long expectedPrint(byte[] cluster) {
        CRC32C a = new CRC32C();
        a.update(cluster);
        CRC32 b = new CRC32();
        b.update(cluster);
        return a.getValue() << 32 | b.getValue();
    }

    private static void assertHashes(byte[] content, long[] hosts, List<int[]> chunks, HashPipeline p,
            boolean zeroCheck) throws Exception {
        for (int c = 0; c < chunks.size(); c++) {
            HashPipeline.Chunk got = p.take(c);
            assertEquals(chunks.get(c)[1] - chunks.get(c)[0], got.fingerprints().length, "chunk " + c);
            for (int k = 0; k < got.fingerprints().length; k++) {
                int host = (int) hosts[chunks.get(c)[0] + k];
                byte[] cluster = Arrays.copyOfRange(content, host, host + CS);
                boolean zero = host / CS % 5 == 0;
                assertEquals(zero && zeroCheck, got.zero()[k], "zero flag of the cluster at " + host);
                assertEquals(expectedPrint(cluster), got.fingerprints()[k], "cluster at " + host);
            }
        }
    }

    @Test
    void aChangeAnywhereInAClusterChangesBothHalvesOfItsFingerprint() {
        byte[] cluster = new byte[CS];
        new Random(3).nextBytes(cluster);
        CRC32C c = new CRC32C();
        CRC32 d = new CRC32();
        long before = HashPipeline.fingerprint(ByteBuffer.wrap(cluster), c, d);
        assertEquals(expectedPrint(cluster), before);
        for (int at : new int[] {0, 1, CS / 2 - 1, CS / 2, CS - 1}) {
            byte[] changed = cluster.clone();
            changed[at] ^= 0x10;
            long after = HashPipeline.fingerprint(ByteBuffer.wrap(changed), c, d);
            assertTrue(before >>> 32 != after >>> 32 && (int) before != (int) after,
                    "byte " + at + ": " + Long.toHexString(before) + " vs " + Long.toHexString(after));
        }
        assertEquals(before, HashPipeline.fingerprint(ByteBuffer.wrap(cluster.clone()), c, d), "same bytes, same print");
    }

    @Test
    void throughThePageCacheEachChunkGetsItsClustersHashesInOrder() throws Exception {
        byte[] content = content();
        long[] hosts = candidates();
        for (boolean zeroCheck : new boolean[] {true, false}) {
            List<int[]> chunks = runs(hosts, 4);
            try (HashPipeline p = new HashPipeline(new MemoryStorage("m", content), null, hosts, chunks, CB,
                    4 * CS, 3, 4, 3, zeroCheck)) {
                assertHashes(content, hosts, chunks, p, zeroCheck);
            }
        }
    }

    @Test
    void withDirectReadsTheReaderThreadFeedsTheHashers() throws Exception {
        byte[] content = content();
        Path f = dir.resolve("p.img");
        Files.write(f, content);
        long[] hosts = candidates();
        List<int[]> chunks = runs(hosts, 8);
        try (FileStorage fs = FileStorage.open(f, false); DirectReader direct = DirectReader.open(fs, CS)) {
            assertNotNull(direct, "premise: this file system takes O_DIRECT");
            try (HashPipeline p = new HashPipeline(fs, direct, hosts, chunks, CB, 8 * CS, 2, 2, 4, true)) {
                assertHashes(content, hosts, chunks, p, true);
            }
        }
    }

    @Test
    void readsStayWithinTheWindowAheadOfTheDecisions() throws Exception {
        byte[] content = content();
        long[] hosts = candidates();
        List<int[]> chunks = runs(hosts, 1);
        AtomicInteger reads = new AtomicInteger();
        Storage counting = new ForwardingStorage(new MemoryStorage("m", content)) {
            @Override
            public void read(long offset, ByteBuffer dst) throws IOException {
                reads.incrementAndGet();
                super.read(offset, dst);
            }
        };
        try (HashPipeline p = new HashPipeline(counting, null, hosts, chunks, CB, CS, 4, 4, 5, true)) {
            Thread.sleep(200);
            assertEquals(5, reads.get(), "chunks read before any was taken");
            p.take(0);
            p.take(1);
            Thread.sleep(200);
            assertEquals(7, reads.get(), "two taken, two more read");
            for (int c = 2; c < chunks.size(); c++) {
                p.take(c);
            }
            assertEquals(chunks.size(), reads.get());
        }
    }

    @Test
    void aFailedReadReachesTheDecidingThread() throws Exception {
        byte[] content = content();
        long[] hosts = candidates();
        List<int[]> chunks = runs(hosts, 1);
        Storage failing = new ForwardingStorage(new MemoryStorage("m", content)) {
            @Override
            public void read(long offset, ByteBuffer dst) throws IOException {
                if (offset == hosts[6]) {
                    throw new IOException("bad sector at " + offset);
                }
                super.read(offset, dst);
            }
        };
        // Two threads: the failure may be recorded while the other one still works on an
        // earlier chunk, and take() then fails for that chunk too. Either way the error arrives,
        // and the failed chunk is never handed out.
        try (HashPipeline p = new HashPipeline(failing, null, hosts, chunks, CB, CS, 2, 2, 8, true)) {
            IOException e = null;
            int c = 0;
            for (; c < chunks.size() && e == null; c++) {
                try {
                    p.take(c);
                    assertTrue(c < 6, "chunk " + c + " handed out although chunk 6 failed");
                } catch (IOException thrown) {
                    e = thrown;
                }
            }
            assertTrue(e != null && e.getMessage().contains("bad sector"), String.valueOf(e));
            assertTrue(c <= 7, "the failure reached take() only at chunk " + (c - 1));
        }
    }
}
