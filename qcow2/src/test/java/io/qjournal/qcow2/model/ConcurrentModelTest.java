package io.qjournal.qcow2.model;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Qcow2Image promises thread safety. Several threads write, zero, discard and read at once,
 * each in its own interleaved set of clusters (so they share L2 tables and refcount blocks
 * and allocate concurrently), with and without a journal, some writes from buffers (whose
 * fresh clusters' data is written outside the image's lock) and some flushes among them;
 * afterwards every byte matches the model and the image is clean.
 */
class ConcurrentModelTest {
    static final int THREADS = 4;

    @ParameterizedTest(name = "cluster {0}, extended L2 {1}, seed {2}, journal {3}")
    @CsvSource({"4096, false, 7, false", "512, false, 8, false", "65536, false, 9, false", "16384, true, 10, false",
            "4096, false, 11, true", "65536, false, 12, true", "16384, true, 13, true"})
    void concurrentOpsMatchModel(int cs, boolean ext, long seed, boolean journal) throws Exception {
        long size = Math.max(4L << 20, 64L * cs);
        MemoryStorage storage = new MemoryStorage("concurrent.qcow2");
        Qcow2Image.create(storage, new CreateOptions().size(size).clusterSize(cs).extendedL2(ext));
        byte[] model = new byte[(int) size];
        int clusters = (int) (size / cs);
        OpenOptions oo = journal ? OpenOptions.readWrite().journal(JournalOptions.defaults()) : OpenOptions.readWrite();
        try (Qcow2Image img = Qcow2Image.open(storage, oo, null)) {
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int me = t;
                done.add(pool.submit(() -> {
                    worker(img, model, me, cs, clusters, new Random(seed * 31 + me));
                    return null;
                }));
            }
            pool.shutdown();
            assertTrue(pool.awaitTermination(120, TimeUnit.SECONDS), "workers did not finish (seed " + seed + ")");
            for (Future<?> f : done) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new AssertionError("seed " + seed + ": worker failed: " + e.getCause(), e.getCause());
                }
            }
            byte[] got = new byte[(int) size];
            img.read(0, got, 0, got.length);
            int m = Arrays.mismatch(model, got);
            if (m >= 0) {
                fail("seed " + seed + ": guest byte " + m + " (cluster " + m / cs + ", owner thread " + (m / cs) % THREADS
                        + ") reads 0x" + Integer.toHexString(got[m] & 0xff) + ", model 0x"
                        + Integer.toHexString(model[m] & 0xff));
            }
        }
        CheckResult r = ImageChecker.check(storage, RepairMode.NONE);
        assertTrue(r.isClean(), "seed " + seed + ": image not clean after concurrent use: " + r.messages());
    }

    /** Thread {@code me} owns the clusters whose index is me modulo THREADS. */
    private static void worker(Qcow2Image img, byte[] model, int me, int cs, int clusters, Random r) throws Exception {
        for (int i = 0; i < 5000; i++) {
            int c = r.nextInt(clusters / THREADS) * THREADS + me;
            long base = (long) c * cs;
            int off = r.nextInt(cs);
            int len = 1 + r.nextInt(cs - off);
            int k = r.nextInt(10);
            if (k < 6) {
                byte[] b = new byte[len];
                r.nextBytes(b);
                if (r.nextBoolean()) {
                    img.write(base + off, b, 0, len);
                } else {
                    // The buffer path writes fresh clusters' data after the lock is released.
                    java.nio.ByteBuffer d = java.nio.ByteBuffer.allocateDirect(len).put(b).flip();
                    img.write(base + off, d);
                }
                System.arraycopy(b, 0, model, (int) base + off, len);
            } else if (k < 7) {
                img.writeZeroes(base + off, len);
                Arrays.fill(model, (int) base + off, (int) base + off + len, (byte) 0);
            } else if (k < 8) {
                img.discard(base, cs);
                Arrays.fill(model, (int) base, (int) base + cs, (byte) 0);
            } else if (k < 9 && r.nextInt(8) == 0) {
                img.flush();
            } else {
                byte[] got = new byte[len];
                img.read(base + off, got, 0, len);
                int m = Arrays.mismatch(got, Arrays.copyOfRange(model, (int) base + off, (int) base + off + len));
                if (m >= 0) {
                    throw new AssertionError("thread " + me + " op " + i + ": byte " + (base + off + m) + " reads 0x"
                            + Integer.toHexString(got[m] & 0xff) + ", model 0x"
                            + Integer.toHexString(model[(int) base + off + m] & 0xff));
                }
            }
        }
    }
}
