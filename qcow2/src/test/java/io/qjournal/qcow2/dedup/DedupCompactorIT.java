package io.qjournal.qcow2.dedup;

import static io.qjournal.qcow2.dedup.DedupImages.assertClean;
import static io.qjournal.qcow2.dedup.DedupImages.assertSameContents;
import static io.qjournal.qcow2.dedup.DedupImages.qemuIo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.storage.ImageInUseException;
import io.qjournal.qcow2.testsupport.QemuLockHolder;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** DedupCompactor on images QEMU made, checked with QEMU's own tools. */
class DedupCompactorIT {
    private static final int K64 = 64 << 10;

    @TempDir
    Path dir;

    @BeforeEach
    void tools() {
        QemuTools.assumeAvailable("qemu-io");
    }

    /**
     * 64 KiB clusters: 0x11 three times (2 duplicates), 0x22 three times (2), 0x33 and 0x55
     * once, two clusters of written zeros and one preallocated zero cluster (write -z keeps the
     * allocation): 4 duplicates, 3 zero clusters, 10 clusters read.
     */
    private Path knownImage(String name, String options) {
        Path img = dir.resolve(name);
        DedupImages.create(img, options, 64L << 20);
        qemuIo(img, "write -P 0x11 0 64k", "write -P 0x11 1M 64k", "write -P 0x11 2M 64k",
                "write -P 0x22 3M 128k", "write -P 0x33 4M 64k", "write -P 0x22 5M 64k",
                "write -P 0 6M 64k", "write -P 0 7M 64k", "write -P 0x44 8M 64k", "write -z 8M 64k",
                "write -P 0x55 9M 64k");
        return img;
    }

    private Path copy(Path img) throws Exception {
        Path c = dir.resolve("before-" + img.getFileName());
        Files.copy(img, c, StandardCopyOption.COPY_ATTRIBUTES);
        return c;
    }

    @Test
    void sharesDuplicatesZeroesAndCompacts() throws Exception {
        Path img = knownImage("known.qcow2", "");
        Path before = copy(img);
        long actualBefore = DedupImages.actualSize(img);
        AtomicLong lastScanned = new AtomicLong();
        AtomicLong lastWon = new AtomicLong();
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), (s, w) -> {
            assertTrue(s >= lastScanned.get() && w >= lastWon.get(), "progress goes forward");
            lastScanned.set(s);
            lastWon.set(w);
        });
        assertEquals(10, r.clustersScanned(), r.toString());
        assertEquals(4, r.duplicateClusters(), r.toString());
        assertEquals(3, r.zeroClusters(), r.toString());
        // Kept: 0x11 at the first data cluster, 0x22, 0x33, 0x55; the last two move into freed space.
        assertEquals(2, r.movedClusters(), r.toString());
        assertEquals(7L * K64, r.bytesWon(), r.toString());
        assertEquals(8L * K64, r.bytesFingerprinted(), "written zeros are recognised without hashing: " + r);
        assertEquals(10L * K64, lastScanned.get());
        assertEquals(7L * K64, lastWon.get());
        long actualAfter = DedupImages.actualSize(img);
        assertEquals(actualBefore, r.sizeBefore());
        assertEquals(actualAfter, r.sizeAfter());
        assertEquals(7L * K64, actualBefore - actualAfter, "actual-size shrinks by the 7 freed clusters");
        assertEquals(9L * K64, Files.size(img), "5 metadata clusters and 4 data clusters remain");
        assertSameContents(before, img, "after dedup");
        assertClean(img, "after dedup");
        // A second run finds the work done.
        DedupCompactor.Result again = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertEquals(0, again.duplicateClusters() + again.zeroClusters() + again.movedClusters(), again.toString());
        assertSameContents(before, img, "after a second run");
        assertClean(img, "after a second run");
    }

    @Test
    void dryRunWritesNothingAndPredictsTheRun() throws Exception {
        Path img = knownImage("dry.qcow2", "");
        String sha = DedupImages.sha256(img);
        DedupCompactor.Result dry = DedupCompactor.run(img, new DedupCompactor.Options(true), null);
        assertEquals(sha, DedupImages.sha256(img), "a dry run must not change a byte");
        assertTrue(dry.sizeAfter() <= dry.sizeBefore(), dry.toString());
        DedupCompactor.Result real = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertEquals(real.clustersScanned(), dry.clustersScanned());
        assertEquals(real.duplicateClusters(), dry.duplicateClusters());
        assertEquals(real.zeroClusters(), dry.zeroClusters());
        assertEquals(real.movedClusters(), dry.movedClusters());
        assertEquals(real.bytesWon(), dry.bytesWon());
    }

    /**
     * A run that fails in the middle of its work (here: the progress callback throws while
     * compaction moves are not yet committed) writes nothing more and leaves the journal: it
     * holds the dedup index entries (type 4) of the committed sharing, and the next open
     * replays it to an image that checks clean with the same contents.
     */
    @Test
    void abandonedRunLeavesAJournalWithDedupEntriesThatReplays() throws Exception {
        Path img = dir.resolve("abandoned.qcow2");
        DedupImages.create(img, "", 64L << 20);
        // 70 duplicates of 0x11 and one of 0x22 free 71 clusters; 70 unique clusters above move down.
        String[] cmds = new String[74];
        cmds[0] = "write -P 0x11 0 64k";
        cmds[1] = "write -P 0x11 1M 4480k";
        cmds[2] = "write -P 0x22 6M 64k";
        cmds[3] = "write -P 0x22 7M 64k";
        for (int i = 0; i < 70; i++) {
            cmds[4 + i] = "write -P " + (0x80 + i) + " " + ((8L << 20) + i * (long) K64) + " 64k";
        }
        qemuIo(img, cmds);
        Path before = copy(img);
        long actualBefore = DedupImages.actualSize(img);
        long total = 143L * K64;
        int[] calls = {0};
        RuntimeException stop = new RuntimeException("operator gave up");
        RuntimeException e = assertThrows(RuntimeException.class, () -> DedupCompactor.run(img,
                new DedupCompactor.Options(false), (scanned, won) -> {
                    // The scan's last report, then the compaction's report after 64 moves.
                    if (scanned == total && ++calls[0] == 2) {
                        throw stop;
                    }
                }));
        assertEquals(stop, e);
        java.util.List<String> dump;
        try (io.qjournal.qcow2.storage.FileStorage s = io.qjournal.qcow2.storage.FileStorage.open(img, false)) {
            long[] area = DedupImages.journalArea(s);
            assertTrue(area != null, "the abandoned run must leave its journal");
            dump = io.qjournal.qcow2.journal.format.JournalDump.describe(s, area[0], area[1]);
        }
        assertEquals(2, dump.stream().filter(l -> l.contains("dedup-insert")).count(),
                "one entry per kept cluster that became shared (0x11, 0x22): " + dump);
        for (int pattern : new int[] {0x11, 0x22}) {
            byte[] cluster = new byte[K64];
            java.util.Arrays.fill(cluster, (byte) pattern);
            String hash = java.util.HexFormat.of().formatHex(Deduplicator.sha256().digest(cluster));
            assertTrue(dump.stream().anyMatch(l -> l.contains("dedup-insert " + hash + " -> 0x")),
                    "the SHA-256 of the kept cluster of 0x" + Integer.toHexString(pattern) + ": " + dump);
        }
        try (io.qjournal.qcow2.Qcow2Image i = io.qjournal.qcow2.Qcow2Image.open(img,
                io.qjournal.qcow2.OpenOptions.readWrite())) {
            assertTrue(i.journalStatusAtOpen().dirty(), "the journal was left dirty");
        }
        assertClean(img, "after replay");
        assertSameContents(before, img, "after replay");
        // The sharing was committed: a second run finds no duplicates, only compaction left.
        DedupCompactor.Result again = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertEquals(0, again.duplicateClusters() + again.zeroClusters(), again.toString());
        assertTrue(again.movedClusters() > 0, again.toString());
        assertEquals(71L * K64, actualBefore - DedupImages.actualSize(img));
        assertClean(img, "after the second run");
        assertSameContents(before, img, "after the second run");
    }

    @Test
    void failureWithNothingPendingClosesCleanly() throws Exception {
        Path img = dir.resolve("unique.qcow2");
        DedupImages.create(img, "", 16L << 20);
        qemuIo(img, "write -P 0x11 0 64k", "write -P 0x22 1M 64k");
        long length = Files.size(img);
        RuntimeException stop = new RuntimeException("stop at once");
        assertThrows(RuntimeException.class, () -> DedupCompactor.run(img, new DedupCompactor.Options(false),
                (scanned, won) -> {
                    throw stop;
                }));
        try (io.qjournal.qcow2.storage.FileStorage s = io.qjournal.qcow2.storage.FileStorage.open(img, false)) {
            assertEquals(null, DedupImages.journalArea(s), "nothing was pending: the close was clean");
        }
        assertEquals(length, Files.size(img), "the run's journal past the end is cut off again");
        assertClean(img, "after the failed run");
    }

    @Test
    void qemuCopyOnWriteKeepsTheSharingIntact() throws Exception {
        Path img = knownImage("cow.qcow2", "");
        DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        // 0x11 is shared three ways: QEMU copies before writing, the other two keep the old bytes.
        qemuIo(img, "write -P 0x66 1M 4k", "write -P 0x77 3M 4k");
        qemuIo(img, "read -P 0x66 1M 4k", "read -P 0x11 1052672 60k", "read -P 0x11 0 64k",
                "read -P 0x11 2M 64k", "read -P 0x77 3M 4k", "read -P 0x22 3149824 124k", "read -P 0x22 5M 64k",
                "read -P 0x33 4M 64k", "read -P 0x55 9M 64k", "read -P 0 6M 3M");
        assertClean(img, "after QEMU wrote into shared clusters");
    }

    /**
     * QEMU's copy-on-write drops the old cluster to refcount 1 but cannot know the other entry
     * that shares it, whose COPIED flag stays clear: qemu-img check counts that as an
     * OFLAG_COPIED corruption (data intact; QEMU merely copies once more on the next write).
     * The next dedup run (or check -r all) puts the flag back. This test pins that down.
     */
    @Test
    void twoWayShareAfterQemuCopyOnWriteIsMendedByTheNextRun() throws Exception {
        Path img = dir.resolve("pair.qcow2");
        DedupImages.create(img, "", 16L << 20);
        qemuIo(img, "write -P 0x11 0 64k", "write -P 0x11 1M 64k");
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertEquals(1, r.duplicateClusters());
        assertClean(img, "after dedup");
        qemuIo(img, "write -P 0x66 1M 4k");
        QemuTools.Result check = QemuTools.qemuImg("check", "-f", "qcow2", img.toString());
        assertEquals(2, check.exitCode(), check.stdout() + check.stderr());
        assertTrue(check.stderr().contains("OFLAG_COPIED data cluster"), check.stderr());
        String sha = DedupImages.sha256(img);
        DedupCompactor.Result dry = DedupCompactor.run(img, new DedupCompactor.Options(true), null);
        assertEquals(sha, DedupImages.sha256(img));
        assertTrue(dry.skipped().stream().anyMatch(s -> s.startsWith("1 COPIED flags restored")), dry.toString());
        DedupCompactor.Result again = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertTrue(again.skipped().stream().anyMatch(s -> s.startsWith("1 COPIED flags restored")), again.toString());
        assertClean(img, "after the next run");
        qemuIo(img, "read -P 0x11 0 64k", "read -P 0x66 1M 4k", "read -P 0x11 1052672 60k");
        // In place now: QEMU writes into the cluster without copying it.
        qemuIo(img, "write -P 0x67 8k 4k");
        qemuIo(img, "read -P 0x11 0 8k", "read -P 0x67 8k 4k", "read -P 0x66 1M 4k");
        assertClean(img, "after QEMU wrote in place");
    }

    @Test
    void snapshotsKeepTheirContents() throws Exception {
        Path img = knownImage("snap.qcow2", "");
        QemuTools.qemuImg("snapshot", "-c", "s1", img.toString()).requireSuccess();
        qemuIo(img, "write -P 0x11 10M 64k", "write -P 0x11 11M 64k", "write -P 0x33 12M 64k", "write -P 0 13M 64k",
                "write -P 0x99 0 64k");
        Path before = copy(img);
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertTrue(r.skipped().stream().anyMatch(s -> s.contains("snapshot")), r.toString());
        // Only clusters written after the snapshot belong to the active view alone: 10M/11M
        // share, 12M (0x33, also in shared 4M) is unique among them, 13M is zero.
        assertEquals(1, r.duplicateClusters(), r.toString());
        assertEquals(1, r.zeroClusters(), r.toString());
        assertSameContents(before, img, "active view");
        assertClean(img, "with a snapshot");
        Path snapBefore = dir.resolve("snap-before.raw");
        Path snapAfter = dir.resolve("snap-after.raw");
        QemuTools.qemuImg("convert", "-l", "snapshot.name=s1", "-O", "raw", before.toString(), snapBefore.toString())
                .requireSuccess();
        QemuTools.qemuImg("convert", "-l", "snapshot.name=s1", "-O", "raw", img.toString(), snapAfter.toString())
                .requireSuccess();
        assertEquals(DedupImages.sha256(snapBefore), DedupImages.sha256(snapAfter), "snapshot s1 unchanged");
    }

    @Test
    void compressedClustersStayAsTheyAre() throws Exception {
        Path src = knownImage("plain.qcow2", "");
        Path img = dir.resolve("compressed.qcow2");
        QemuTools.qemuImg("convert", "-c", "-O", "qcow2", src.toString(), img.toString()).requireSuccess();
        qemuIo(img, "write -P 0x11 20M 64k", "write -P 0x11 21M 64k", "write -P 0 22M 64k", "write -P 0xab 23M 64k");
        Path before = copy(img);
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertTrue(r.skipped().stream().anyMatch(s -> s.contains("compressed")), r.toString());
        assertEquals(1, r.duplicateClusters(), r.toString());
        assertEquals(1, r.zeroClusters(), r.toString());
        assertSameContents(before, img, "compressed image");
        assertClean(img, "compressed image");
    }

    @Test
    void version2ImageWithoutJournal() throws Exception {
        Path img = knownImage("v2.qcow2", "compat=0.10");
        Path before = copy(img);
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        // v2 has no zero flag: QEMU's write -z already unmapped 8M; the written zeros become unallocated.
        assertEquals(4, r.duplicateClusters(), r.toString());
        assertEquals(2, r.zeroClusters(), r.toString());
        assertSameContents(before, img, "v2");
        assertClean(img, "v2");
        assertTrue(r.sizeAfter() < r.sizeBefore(), r.toString());
    }

    @Test
    void zeroClustersOverABackingFileKeepReadingZeros() throws Exception {
        Path base = dir.resolve("base.qcow2");
        DedupImages.create(base, "", 16L << 20);
        qemuIo(base, "write -P 0x77 0 4M");
        Path img = dir.resolve("overlay.qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", img.toString())
                .requireSuccess();
        qemuIo(img, "write -P 0 0 64k", "write -P 0x11 1M 64k", "write -P 0x11 2M 64k", "write -P 0x22 3M 64k");
        Path before = dir.resolve("overlay-before.qcow2");
        Files.copy(img, before);
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertEquals(1, r.duplicateClusters(), r.toString());
        assertEquals(1, r.zeroClusters(), r.toString());
        qemuIo(img, "read -P 0 0 64k", "read -P 0x77 64k 960k", "read -P 0x11 1M 64k", "read -P 0x11 2M 64k");
        assertSameContents(before, img, "overlay");
        assertClean(img, "overlay");
    }

    /** 512-byte clusters (tiny journal blocks, many transactions) and 2 MiB clusters (a whole L2 table per move). */
    @Test
    void smallestAndLargestClusters() throws Exception {
        Path small = dir.resolve("c512.qcow2");
        DedupImages.create(small, "cluster_size=512", 1L << 20);
        qemuIo(small, "write -P 0x11 0 64k", "write -P 0x11 128k 64k", "write -P 0 256k 16k", "write -P 0x22 512k 64k");
        Path large = dir.resolve("c2m.qcow2");
        DedupImages.create(large, "cluster_size=2M", 64L << 20);
        qemuIo(large, "write -P 0x11 0 2M", "write -P 0x11 8M 2M", "write -P 0 16M 2M", "write -P 0x22 30M 2M");
        for (Path img : new Path[] {small, large}) {
            Path before = copy(img);
            DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
            assertTrue(r.duplicateClusters() > 0 && r.zeroClusters() > 0 && r.movedClusters() > 0, r.toString());
            assertTrue(r.sizeAfter() < r.sizeBefore(), r.toString());
            assertSameContents(before, img, img.getFileName().toString());
            assertClean(img, img.getFileName().toString());
        }
    }

    @Test
    void narrowRefcountsLimitSharing() throws Exception {
        Path img = knownImage("rc1.qcow2", "refcount_bits=1");
        Path before = copy(img);
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertEquals(0, r.duplicateClusters(), r.toString());
        assertEquals(3, r.zeroClusters(), r.toString());
        assertTrue(r.skipped().stream().anyMatch(s -> s.startsWith("4 duplicates not shared")), r.toString());
        assertSameContents(before, img, "1-bit refcounts");
        assertClean(img, "1-bit refcounts");
        // 2-bit refcounts count to 3: of seven equal clusters, 0-2 share one, 3-5 the next.
        Path two = dir.resolve("rc2.qcow2");
        DedupImages.create(two, "refcount_bits=2", 16L << 20);
        qemuIo(two, "write -P 0x11 0 448k");
        Path twoBefore = copy(two);
        DedupCompactor.Result r2 = DedupCompactor.run(two, new DedupCompactor.Options(false), null);
        assertEquals(4, r2.duplicateClusters(), r2.toString());
        assertSameContents(twoBefore, two, "2-bit refcounts");
        assertClean(two, "2-bit refcounts");
    }

    @Test
    void extendedL2Image() throws Exception {
        Path img = knownImage("ext.qcow2", "extended_l2=on");
        Path before = copy(img);
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertEquals(4, r.duplicateClusters(), r.toString());
        assertTrue(r.zeroClusters() >= 2, r.toString());
        assertSameContents(before, img, "extended L2");
        assertClean(img, "extended L2");
    }

    @Test
    void bitmapStaysConsistent() throws Exception {
        Path img = knownImage("bitmap.qcow2", "");
        QemuTools.qemuImg("bitmap", "--add", img.toString(), "b0").requireSuccess();
        qemuIo(img, "write -P 0x11 30M 64k");
        Path before = copy(img);
        DedupCompactor.Result r = DedupCompactor.run(img, new DedupCompactor.Options(false), null);
        assertEquals(5, r.duplicateClusters(), r.toString());
        assertSameContents(before, img, "bitmap image");
        assertClean(img, "bitmap image");
        // Guest contents did not change, so the bitmap is still true and must not be marked in use.
        String info = QemuTools.qemuImg("info", "--output=json", img.toString()).requireSuccess().stdout();
        assertTrue(info.contains("\"b0\"") && !info.contains("in-use"), info);
    }

    @Test
    void lockedImageIsInUseAndUntouched() throws Exception {
        Path img = knownImage("locked.qcow2", "");
        String sha = DedupImages.sha256(img);
        try (QemuLockHolder holder = QemuLockHolder.start(img, dir.resolve("qemu-io.log"))) {
            assertThrows(ImageInUseException.class,
                    () -> DedupCompactor.run(img, new DedupCompactor.Options(false), null));
            assertThrows(ImageInUseException.class,
                    () -> DedupCompactor.run(img, new DedupCompactor.Options(true), null));
        }
        assertEquals(sha, DedupImages.sha256(img), "a locked image must not be touched");
    }
}
