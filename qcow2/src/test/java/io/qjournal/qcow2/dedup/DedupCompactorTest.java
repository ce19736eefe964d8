package io.qjournal.qcow2.dedup;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.storage.FileStorage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** DedupCompactor on images our engine wrote, checked with our checker: runs without QEMU. */
class DedupCompactorTest {
    @TempDir
    Path dir;

    @Test
    void knownDuplicatesAndZeros() throws Exception {
        Path img = dir.resolve("known.qcow2");
        Qcow2Image.create(img, new CreateOptions().size(16L << 20).clusterSize(65536));
        try (Qcow2Image i = Qcow2Image.open(img, OpenOptions.readWrite())) {
            write(i, 0, 0x11, 65536);
            write(i, 1 << 20, 0x11, 65536);
            write(i, 2 << 20, 0x11, 65536);
            write(i, 3 << 20, 0, 2 * 65536);
            write(i, 4 << 20, 0x33, 65536);
        }
        byte[] before = contents(img);
        long lengthBefore = Files.size(img);
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertEquals(6, r.clustersScanned(), r.toString());
        assertEquals(2, r.duplicateClusters(), r.toString());
        assertEquals(2, r.zeroClusters(), r.toString());
        assertEquals(4L * 65536, r.bytesWon(), r.toString());
        assertEquals(lengthBefore - 4L * 65536, Files.size(img), "four clusters cut off the file");
        assertArrayEquals(before, contents(img), "guest contents");
        assertClean(img);
    }

    /**
     * Two different clusters with the same fingerprint (made by flipping bits whose effects on
     * both CRCs cancel): neither is shared with the other, the real twin still is.
     */
    @Test
    void aFingerprintCollisionIsNeverShared() throws Exception {
        byte[] a = new byte[65536];
        new Random(11).nextBytes(a);
        byte[] b = collidingTwin(a);
        assertTrue(!Arrays.equals(a, b), "premise: different bytes");
        assertEquals(print(a), print(b), "premise: same fingerprint");
        Path img = dir.resolve("collision.qcow2");
        Qcow2Image.create(img, new CreateOptions().size(16L << 20).clusterSize(65536));
        try (Qcow2Image i = Qcow2Image.open(img, OpenOptions.readWrite())) {
            i.write(0, a, 0, a.length);
            i.write(1 << 20, b, 0, b.length);
            i.write(2 << 20, a, 0, a.length);
        }
        byte[] before = contents(img);
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertEquals(1, r.duplicateClusters(), r.toString());
        assertTrue(r.skipped().contains("1 clusters not shared: their fingerprint matched an earlier cluster"
                + " whose bytes differ"), r.toString());
        assertArrayEquals(before, contents(img), "guest contents");
        assertClean(img);
    }

    private static long print(byte[] cluster) {
        return HashPipeline.fingerprint(java.nio.ByteBuffer.wrap(cluster), new java.util.zip.CRC32C(),
                new java.util.zip.CRC32());
    }

    /**
     * Both CRCs are affine in the bits: flipping a set of bits changes the fingerprint by the XOR
     * of what each flip alone changes. Among 96 single-bit effects (64-bit vectors) some nonempty
     * subset XORs to zero; Gaussian elimination finds it.
     */
    private static byte[] collidingTwin(byte[] a) {
        int bits = 96;
        long base = print(a);
        long[] rows = new long[bits];
        java.math.BigInteger[] sets = new java.math.BigInteger[bits];
        for (int i = 0; i < bits; i++) {
            byte[] t = a.clone();
            t[1000 + i / 8] ^= (byte) (1 << (i % 8));
            rows[i] = print(t) ^ base;
            sets[i] = java.math.BigInteger.ONE.shiftLeft(i);
        }
        int rank = 0;
        for (int bit = 63; bit >= 0 && rank < bits; bit--) {
            int pivot = -1;
            for (int r = rank; r < bits; r++) {
                if ((rows[r] >>> bit & 1) != 0) {
                    pivot = r;
                    break;
                }
            }
            if (pivot < 0) {
                continue;
            }
            long tr = rows[pivot];
            rows[pivot] = rows[rank];
            rows[rank] = tr;
            java.math.BigInteger ts = sets[pivot];
            sets[pivot] = sets[rank];
            sets[rank] = ts;
            for (int r = 0; r < bits; r++) {
                if (r != rank && (rows[r] >>> bit & 1) != 0) {
                    rows[r] ^= rows[rank];
                    sets[r] = sets[r].xor(sets[rank]);
                }
            }
            rank++;
        }
        // Rows past the rank are zero vectors: their sets of flips leave the fingerprint alone.
        java.math.BigInteger flips = sets[bits - 1];
        byte[] b = a.clone();
        for (int i = 0; i < bits; i++) {
            if (flips.testBit(i)) {
                b[1000 + i / 8] ^= (byte) (1 << (i % 8));
            }
        }
        return b;
    }

    /** 4 KiB clusters, seeded random mix of unique, repeated and zero clusters and holes. */
    @Test
    void randomMixKeepsContents() throws Exception {
        long seed = 20261125L;
        Random rnd = new Random(seed);
        Path img = dir.resolve("mix.qcow2");
        int clusters = 2048;
        Qcow2Image.create(img, new CreateOptions().size((long) clusters * 4096).clusterSize(4096));
        byte[][] pool = new byte[8][4096];
        for (byte[] p : pool) {
            rnd.nextBytes(p);
        }
        try (Qcow2Image i = Qcow2Image.open(img, OpenOptions.readWrite())) {
            for (int c = 0; c < clusters; c++) {
                int k = rnd.nextInt(10);
                byte[] b = new byte[4096];
                if (k < 3) {
                    rnd.nextBytes(b);
                } else if (k < 7) {
                    b = pool[rnd.nextInt(pool.length)];
                } else if (k < 9) {
                    continue;
                }
                i.write((long) c * 4096, b, 0, b.length);
            }
        }
        byte[] before = contents(img);
        long lengthBefore = Files.size(img);
        DedupCompactor.Result dry = DedupCompactor.run(img, new DedupCompactor.Options(true), null);
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertEquals(dry.duplicateClusters(), r.duplicateClusters(), "seed " + seed);
        assertEquals(dry.zeroClusters(), r.zeroClusters(), "seed " + seed);
        assertEquals(dry.movedClusters(), r.movedClusters(), "seed " + seed);
        assertTrue(r.duplicateClusters() > 500 && r.zeroClusters() > 100 && r.movedClusters() > 0, r.toString());
        assertTrue(Files.size(img) <= lengthBefore - r.bytesWon() + 4096, "seed " + seed + ": file "
                + lengthBefore + " -> " + Files.size(img) + ", " + r);
        assertArrayEquals(before, contents(img), "seed " + seed);
        assertClean(img);
        // Guest writes after the run: sharing must not leak one guest range into another.
        try (Qcow2Image i = Qcow2Image.open(img, OpenOptions.readWrite())) {
            byte[] w = new byte[4096];
            Arrays.fill(w, (byte) 0x5a);
            for (int c = 0; c < clusters; c += 7) {
                i.write((long) c * 4096 + 512, w, 0, 1024);
                System.arraycopy(w, 0, before, c * 4096 + 512, 1024);
            }
        }
        assertArrayEquals(before, contents(img), "seed " + seed + ", after writes into shared clusters");
    }

    private static void write(Qcow2Image i, long off, int pattern, int len) throws Exception {
        byte[] b = new byte[len];
        Arrays.fill(b, (byte) pattern);
        i.write(off, b, 0, len);
    }

    private static byte[] contents(Path img) throws Exception {
        try (Qcow2Image i = Qcow2Image.open(img, OpenOptions.readOnly())) {
            byte[] b = new byte[(int) i.size()];
            i.read(0, b, 0, b.length);
            return b;
        }
    }

    private static void assertClean(Path img) throws Exception {
        try (FileStorage s = FileStorage.open(img, false)) {
            CheckResult r = ImageChecker.check(s, RepairMode.NONE);
            assertTrue(r.isClean(), r.toString());
        }
    }
}
