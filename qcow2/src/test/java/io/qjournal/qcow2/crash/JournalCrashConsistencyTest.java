package io.qjournal.qcow2.crash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.storage.MemoryStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Power-loss crash consistency of the journal: seven workloads, each run once on a recording
 * storage, then checked at thousands of crash states (see {@link CrashHarness}). Together they
 * check at least 10,000 states per run; the count per workload is printed.
 */
class JournalCrashConsistencyTest {
    private static final int MIB = 1 << 20;
    /** Per workload; raised when the QEMU-built workload is skipped so the total stays >= 10,000. */
    private static final int STATES = QemuTools.available("qemu-img") ? 2100 : 2700;
    /** Commits by timer would make the storage op sequence depend on timing: only datasize triggers. */
    /** For the workloads beyond the required five. */
    private static final int EXTRA_STATES = 1200;
    private static final String TIMING = ",commit-interval=3600s,commit-datasize=64k";
    private static final AtomicInteger TOTAL = new AtomicInteger();
    private static final AtomicInteger WORKLOADS = new AtomicInteger();

    @TempDir
    Path tmp;

    @AfterAll
    static void total() {
        System.out.println("crash states checked in total: " + TOTAL.get() + " over " + WORKLOADS.get()
                + " workloads");
        if (CrashHarness.ONLY == null && WORKLOADS.get() >= 5) {
            assertTrue(TOTAL.get() >= 10_000, "the suite must check at least 10,000 crash states, checked "
                    + TOTAL.get());
        }
    }

    @Test
    void sequentialAllocatingWrites() throws IOException {
        byte[] base = create(64L * MIB, 65536, 16);
        run(new CrashHarness.Workload("sequential-alloc", base,
                JournalOptions.parse("size=1M,block-size=4k" + TIMING), 6 * MIB, STATES, (d, rnd) -> {
                    long pos = 0;
                    for (int i = 0; i < 160; i++) {
                        int len = 4096 * (1 + rnd.nextInt(24)) + (rnd.nextInt(4) == 0 ? rnd.nextInt(512) : 0);
                        if (pos + len > d.window()) {
                            pos = rnd.nextInt(4) * 512L;
                        }
                        d.write(pos, bytes(rnd, len));
                        pos += len;
                        if (rnd.nextInt(4) == 0) {
                            d.flush();
                        }
                    }
                }));
    }

    @Test
    void randomOverwrites() throws IOException {
        byte[] base = create(64L * MIB, 4096, 16);
        run(new CrashHarness.Workload("random-overwrite", base,
                JournalOptions.parse("size=512K,block-size=4k" + TIMING), 2 * MIB, STATES, (d, rnd) -> {
                    for (int i = 0; i < 260; i++) {
                        int len = 1 + rnd.nextInt(16384);
                        long off = rnd.nextInt(d.window() - len);
                        if (rnd.nextBoolean()) {
                            off &= ~511L;
                            len = Math.max(512, len & ~511);
                        }
                        if (rnd.nextInt(12) == 0) {
                            d.writeZeroes(off, len);
                        } else {
                            d.write(off, bytes(rnd, len));
                        }
                        if (rnd.nextInt(5) == 0) {
                            d.flush();
                        }
                    }
                }));
    }

    @Test
    void discardThenReallocate() throws IOException {
        byte[] base = create(64L * MIB, 4096, 16);
        run(new CrashHarness.Workload("discard-realloc", base,
                JournalOptions.parse("size=512K,block-size=4k" + TIMING), MIB, STATES, (d, rnd) -> {
                    int clusters = d.window() / d.clusterSize();
                    for (int round = 0; round < 70; round++) {
                        for (int j = rnd.nextInt(4); j >= 0; j--) {
                            int n = 1 + rnd.nextInt(8);
                            long c = rnd.nextInt(clusters - n);
                            d.write(c * d.clusterSize(), bytes(rnd, n * d.clusterSize()));
                        }
                        if (rnd.nextBoolean()) {
                            d.flush();
                        }
                        int n = 1 + rnd.nextInt(16);
                        long c = rnd.nextInt(clusters - n);
                        d.discard(c * d.clusterSize(), (long) n * d.clusterSize());
                        if (rnd.nextInt(3) == 0) {
                            d.flush();
                        }
                        // Reallocation right after the discard, often before any flush: the
                        // freed clusters are the first candidates.
                        int m = 1 + rnd.nextInt(6);
                        long e = rnd.nextInt(clusters - m);
                        d.write(e * d.clusterSize() + rnd.nextInt(64), bytes(rnd, m * d.clusterSize() - 64));
                        if (rnd.nextInt(3) == 0) {
                            d.flush();
                        }
                    }
                }));
    }

    @Test
    void copyOnWriteOfSnapshotSharedClusters() throws IOException {
        if (!CrashImages.qemuUsable("building the snapshot image for the copy-on-write workload")) {
            Assumptions.assumeTrue(false, "qemu-img missing: copy-on-write workload skipped");
        }
        Path f = tmp.resolve("snap.qcow2");
        QemuTools.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=4096", f.toString(), "64M").requireSuccess();
        QemuTools.qemuIo("-f", "qcow2", "-c", "write -P 0x5a 0 1M", "-c", "write -P 0xa5 1M 1M", f.toString())
                .requireSuccess();
        QemuTools.qemuImg("snapshot", "-c", "s1", f.toString()).requireSuccess();
        byte[] base = Files.readAllBytes(f);
        run(new CrashHarness.Workload("snapshot-cow", base,
                JournalOptions.parse("size=512K,block-size=4k" + TIMING), 2 * MIB, STATES, (d, rnd) -> {
                    for (int i = 0; i < 220; i++) {
                        int len = 1 + rnd.nextInt(6000);
                        long off = rnd.nextInt(d.window() - len);
                        if (rnd.nextInt(10) == 0) {
                            long c = rnd.nextInt(d.window() / d.clusterSize() - 2);
                            d.discard(c * d.clusterSize(), 2L * d.clusterSize());
                        } else {
                            d.write(off, bytes(rnd, len));
                        }
                        if (rnd.nextInt(4) == 0) {
                            d.flush();
                        }
                    }
                }));
    }

    @Test
    void metadataTableGrowth() throws IOException {
        // 512-byte clusters, 64-bit refcounts: a refcount block covers 32 KiB of file and the
        // one-cluster refcount table 2 MiB, so the table must grow; the resize grows the L1.
        byte[] base = create(MIB, 512, 64);
        run(new CrashHarness.Workload("table-growth", base,
                JournalOptions.parse("size=512K,block-size=512" + TIMING), 4 * MIB, STATES, (d, rnd) -> {
                    for (int i = 0; i < 40; i++) {
                        int len = 512 + rnd.nextInt(4096);
                        d.write(rnd.nextInt(MIB - len), bytes(rnd, len));
                        if (rnd.nextInt(4) == 0) {
                            d.flush();
                        }
                    }
                    int l1Before = d.image().header().l1Size();
                    d.resize(64L * MIB);
                    for (int i = 0; i < 240; i++) {
                        int len = 512 * (1 + rnd.nextInt(32));
                        d.write(rnd.nextInt(d.window() - len), bytes(rnd, len));
                        if (rnd.nextInt(4) == 0) {
                            d.flush();
                        }
                    }
                    Header h = d.image().header();
                    assertTrue(h.l1Size() > l1Before && h.l1TableOffset() != 0, "premise: the resize grew the L1");
                    assertTrue(h.refcountTableClusters() > 1, "premise: the refcount table grew, it has "
                            + h.refcountTableClusters() + " cluster(s)");
                }));
    }

    @Test
    void extendedL2SubclusterAllocation() throws IOException {
        // 64 KiB clusters of 32 subclusters: subclusters become allocated in place (a data barrier case).
        MemoryStorage s = new MemoryStorage("base.qcow2");
        Qcow2Image.create(s, new CreateOptions().size(64L * MIB).clusterSize(65536).extendedL2(true));
        run(new CrashHarness.Workload("extended-l2", s.toByteArray(),
                JournalOptions.parse("size=512K,block-size=4k" + TIMING), 2 * MIB, EXTRA_STATES, (d, rnd) -> {
                    for (int i = 0; i < 200; i++) {
                        int len = 1 + rnd.nextInt(5000);
                        long off = rnd.nextInt(d.window() - len);
                        if (rnd.nextInt(10) == 0) {
                            d.writeZeroes(off & ~2047L, 2048);
                        } else {
                            d.write(off, bytes(rnd, len));
                        }
                        if (rnd.nextInt(4) == 0) {
                            d.flush();
                        }
                    }
                }));
    }

    @Test
    void copyOnWriteFromBackingFile() throws IOException {
        // Partial writes over a backing file: the untouched rest of each cluster is copied up.
        byte[] backing = bytes(new Random(CrashHarness.BASE_SEED), 3 * MIB);
        MemoryStorage s = new MemoryStorage("base.qcow2");
        Qcow2Image.create(s, new CreateOptions().size(64L * MIB).clusterSize(16384)
                .backingFile(CrashImages.BACKING_NAME).backingFormat("raw"));
        run(new CrashHarness.Workload("backing-cow", s.toByteArray(),
                JournalOptions.parse("size=512K,block-size=4k" + TIMING), 4 * MIB, EXTRA_STATES, (d, rnd) -> {
                    for (int i = 0; i < 200; i++) {
                        int len = 1 + rnd.nextInt(6000);
                        d.write(rnd.nextInt(d.window() - len), bytes(rnd, len));
                        if (rnd.nextInt(4) == 0) {
                            d.flush();
                        }
                    }
                }, backing));
    }

    private void run(CrashHarness.Workload w) throws IOException {
        long t0 = System.nanoTime();
        CrashHarness.Report rep = CrashHarness.run(w, tmp,
                CrashHarness.ONLY == null && CrashImages.qemuUsable("qemu-img check of sampled crash states"));
        System.out.println(rep.summary() + String.format(" in %.1f s", (System.nanoTime() - t0) / 1e9));
        TOTAL.addAndGet(rep.states);
        WORKLOADS.incrementAndGet();
        assertEquals(0, rep.failures, () -> rep.failures + " of " + rep.states + " crash states failed in workload "
                + w.name() + " (seed " + rep.seed + "); first:\n  " + String.join("\n  ", rep.firstFailures));
        assertTrue(rep.states > 0 || CrashHarness.ONLY != null, "no crash state was checked");
    }

    private static byte[] create(long size, int clusterSize, int refcountBits) throws IOException {
        MemoryStorage s = new MemoryStorage("base.qcow2");
        Qcow2Image.create(s, new CreateOptions().size(size).clusterSize(clusterSize).refcountBits(refcountBits));
        return s.toByteArray();
    }

    private static byte[] bytes(Random rnd, int len) {
        byte[] b = new byte[len];
        rnd.nextBytes(b);
        return b;
    }
}
