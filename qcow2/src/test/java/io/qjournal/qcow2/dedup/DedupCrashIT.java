package io.qjournal.qcow2.dedup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.journal.format.JournalDump;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGKILL during dedup-compaction: a child JVM runs it on a copy of one image and is killed at
 * a random moment of the run (seeded; the seed is printed). Each crashed copy must open
 * (replaying the journal), check clean with our checker and qemu-img check, and hold the same
 * guest contents as the original (qemu-img compare); a second, complete run on it must then
 * finish the work and leave it clean and unchanged too. Every other round skips the separate
 * replay: a dry run (which must not change the file) and the real run meet the dirty journal.
 */
class DedupCrashIT {
    private static final int KILLS = Integer.getInteger("qjournal.dedup.kills", 10);
    private static final long SEED = Long.getLong("qjournal.dedup.seed", System.nanoTime() & 0xFFFFFF);

    @TempDir
    Path dir;

    @Test
    void sigkillAtRandomMoments() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        System.out.println("DedupCrashIT seed " + SEED + " (rerun with -Dqjournal.dedup.seed=" + SEED + ")");
        Path original = buildImage(new Random(SEED), "cluster_size=4096", "original.qcow2");
        // One undisturbed run tells how long the work takes, so the kills land inside it.
        Path calib = copy(original, "calibration.qcow2");
        Child c0 = Child.start(calib, dir);
        assertTrue(c0.awaitLine("READY", 60), "child never became ready: " + c0.describe());
        long t0 = System.nanoTime();
        assertTrue(c0.awaitLine("DONE", 120), "calibration run did not finish: " + c0.describe());
        long runMs = Math.max(1, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        c0.kill();
        String done = c0.line("DONE");
        int reports = c0.count("PROGRESS");
        System.out.println("DedupCrashIT calibration: " + runMs + " ms, " + reports + " progress reports, " + done);
        assertTrue(!done.contains("duplicateClusters=0,") && !done.contains("movedClusters=0,"), done);
        assertTrue(reports >= 5, "too few progress reports to aim the kills: " + reports);
        verify(original, calib, "calibration");
        // About half the allocated clusters are duplicates; compaction must win most of that back.
        long sizeBefore = DedupImages.actualSize(original);
        long sizeAfter = DedupImages.actualSize(calib);
        assertTrue(sizeAfter < sizeBefore * 3 / 4, "actual-size " + sizeBefore + " -> " + sizeAfter);

        Random rnd = new Random(SEED ^ 0x5DEECE66DL);
        List<String> failures = new ArrayList<>();
        int kills = 0;
        int dirty = 0;
        int dedupDescriptors = 0;
        for (int round = 0; dirty < KILLS && round < KILLS * 4; round++) {
            Path img = copy(original, "round-" + round + ".qcow2");
            // After a random progress report (the scan reports every 8 MiB read, compaction every
            // 64 moves), plus a random part of the mean time between reports.
            int after = rnd.nextInt(reports);
            long delayUs = (long) (rnd.nextDouble() * runMs * 1000 / reports);
            String ctx = "round " + round + " (seed " + SEED + ", kill " + delayUs + " us after progress report "
                    + after + " of " + reports + ")";
            Child c = Child.start(img, dir);
            if (!c.awaitLine("READY", 60)) {
                c.kill();
                failures.add(ctx + ": child never became ready: " + c.describe());
                break;
            }
            if (after > 0 && !c.awaitCount("PROGRESS", after, 120)) {
                c.kill();
                if (c.line("DONE") == null) {
                    failures.add(ctx + ": child stopped reporting: " + c.describe());
                    break;
                }
            }
            TimeUnit.MICROSECONDS.sleep(delayUs);
            c.kill();
            if (c.line("DONE") != null) {
                System.out.println("DedupCrashIT " + ctx + ": the run had finished; not counted");
                continue;
            }
            kills++;
            try (FileStorage s = FileStorage.open(img, false)) {
                long[] journal = DedupImages.journalArea(s);
                if (journal != null) {
                    dirty++;
                    for (String l : JournalDump.describe(s, journal[0], journal[1])) {
                        if (l.contains("dedup-insert")) {
                            dedupDescriptors++;
                        }
                    }
                }
            } catch (IOException e) {
                failures.add(ctx + ": journal unreadable: " + e.getMessage());
            }
            String problem;
            if (round % 2 == 0) {
                problem = check(original, img);
                if (problem == null) {
                    // The interrupted work completes on a second run.
                    DedupCompactor.run(img, new DedupCompactor.Options(false), null);
                    problem = check(original, img);
                    if (problem != null) {
                        problem = "after the second run: " + problem;
                    }
                }
            } else {
                // Straight on from the crash: a dry run replays in memory only, the real run replays.
                String sha = DedupImages.sha256(img);
                DedupCompactor.run(img, new DedupCompactor.Options(true), null);
                problem = sha.equals(DedupImages.sha256(img)) ? null : "the dry run changed the crashed file";
                if (problem == null) {
                    DedupCompactor.run(img, new DedupCompactor.Options(false), null);
                    problem = check(original, img);
                    if (problem != null) {
                        problem = "after a run over the crashed image: " + problem;
                    }
                }
            }
            System.out.println("DedupCrashIT " + ctx + ": " + (problem == null ? "clean, contents unchanged" : problem));
            if (problem != null) {
                failures.add(ctx + ": " + problem);
            }
        }
        System.out.println("DedupCrashIT: " + kills + " SIGKILLs, " + dirty + " left a journal, " + dedupDescriptors
                + " dedup-insert entries seen in them, " + failures.size() + " failures (seed " + SEED + ")");
        assertEquals(List.of(), failures, "seed " + SEED);
        assertTrue(dirty >= KILLS, "only " + dirty + " of " + kills + " kills landed while the journal was live"
                + " (seed " + SEED + ")");
    }

    /**
     * 4 KiB clusters so the run takes many transactions: unique random clusters, clusters from a
     * small pool of contents (duplicates), holes, and written zeros, in seeded order.
     */
    private Path buildImage(Random rnd, String options, String name) throws Exception {
        int clusters = 12288;
        byte[][] pool = new byte[24][4096];
        for (byte[] p : pool) {
            rnd.nextBytes(p);
        }
        Path raw = dir.resolve("source.raw");
        ByteBuffer all = ByteBuffer.allocate(clusters * 4096);
        for (int i = 0; i < clusters; i++) {
            int k = rnd.nextInt(100);
            byte[] b = new byte[4096];
            if (k < 40) {
                rnd.nextBytes(b);
            } else if (k < 80) {
                b = pool[rnd.nextInt(pool.length)];
            }
            all.put(b);
        }
        Files.write(raw, all.array());
        Path img = dir.resolve(name);
        QemuTools.qemuImg("convert", "-f", "raw", "-O", "qcow2", "-o", options, raw.toString(),
                img.toString()).requireSuccess();
        List<String> cmds = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            cmds.add("write -P 0 " + (rnd.nextInt(clusters - 16) * 4096L) + " 32k");
        }
        DedupImages.qemuIo(img, cmds.toArray(String[]::new));
        return img;
    }

    private Path copy(Path from, String name) throws IOException {
        Path to = dir.resolve(name);
        Files.copy(from, to);
        return to;
    }

    private static void verify(Path original, Path img, String what) throws IOException {
        String p = check(original, img);
        assertEquals(null, p, what);
    }

    /**
     * Version 2 images cannot carry a journal: their metadata goes out in QEMU's order, so a
     * SIGKILL may leak clusters, but never corrupt the image or change what the guest reads.
     */
    @Test
    void version2SigkillLeaksAtMost() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        long seed = SEED + 2;
        System.out.println("DedupCrashIT v2 seed " + seed + " (rerun with -Dqjournal.dedup.seed=" + SEED + ")");
        Random rnd = new Random(seed);
        Path original = buildImage(rnd, "compat=0.10,cluster_size=4096", "v2-original.qcow2");
        Path calib = copy(original, "v2-calibration.qcow2");
        Child c0 = Child.start(calib, dir);
        assertTrue(c0.awaitLine("DONE", 120), "v2 calibration run did not finish: " + c0.describe());
        c0.kill();
        int reports = c0.count("PROGRESS");
        assertTrue(reports >= 5, "too few progress reports to aim the kills: " + reports);
        verify(original, calib, "v2 calibration");
        List<String> failures = new ArrayList<>();
        int kills = 0;
        for (int round = 0; kills < 4 && round < 16; round++) {
            Path img = copy(original, "v2-round-" + round + ".qcow2");
            int after = rnd.nextInt(reports);
            String ctx = "v2 round " + round + " (seed " + seed + ", kill after progress report " + after + ")";
            Child c = Child.start(img, dir);
            if (!c.awaitLine("READY", 60) || after > 0 && !c.awaitCount("PROGRESS", after, 120)) {
                c.kill();
                if (c.line("DONE") == null) {
                    failures.add(ctx + ": child stopped: " + c.describe());
                    break;
                }
            }
            c.kill();
            if (c.line("DONE") != null) {
                continue;
            }
            kills++;
            String problem = check(original, img, true);
            System.out.println("DedupCrashIT " + ctx + ": " + (problem == null ? "no corruption, contents unchanged"
                    : problem));
            if (problem != null) {
                failures.add(ctx + ": " + problem);
            }
        }
        assertEquals(List.of(), failures, "seed " + seed);
        assertTrue(kills >= 4, "only " + kills + " kills landed inside the v2 run (seed " + seed + ")");
    }

    /** Opens (replays) and closes, then both checkers and qemu-img compare; null when all is well. */
    private static String check(Path original, Path img) throws IOException {
        return check(original, img, false);
    }

    private static String check(Path original, Path img, boolean leaksAllowed) throws IOException {
        try (Qcow2Image i = Qcow2Image.open(img, OpenOptions.readWrite())) {
            i.size();
        } catch (IOException | RuntimeException e) {
            return "open for replay failed: " + e;
        }
        try (FileStorage s = FileStorage.open(img, false)) {
            CheckResult r = ImageChecker.check(s, RepairMode.NONE);
            if (leaksAllowed ? r.corruptions() != 0 || r.checkErrors() != 0 : !r.isClean()) {
                return "our check: " + r;
            }
        }
        QemuTools.Result q = QemuTools.qemuImg("check", "-f", "qcow2", img.toString());
        if (q.exitCode() != 0 && !(leaksAllowed && q.exitCode() == 3)) {
            return "qemu-img check exit " + q.exitCode() + ": " + (q.stdout() + q.stderr()).strip();
        }
        QemuTools.Result cmp = QemuTools.qemuImg("compare", "-f", "qcow2", "-F", "qcow2", original.toString(),
                img.toString());
        if (cmp.exitCode() != 0) {
            return "qemu-img compare exit " + cmp.exitCode() + ": " + (cmp.stdout() + cmp.stderr()).strip();
        }
        return null;
    }

    /** A running child JVM and the lines it printed. */
    private static final class Child {
        final Process process;
        final Path stderr;
        final List<String> lines = new ArrayList<>();
        final Thread reader;

        private Child(Process process, Path stderr) {
            this.process = process;
            this.stderr = stderr;
            this.reader = new Thread(this::drain, "dedup-child-stdout");
            reader.setDaemon(true);
            reader.start();
        }

        static Child start(Path img, Path dir) throws IOException {
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Path err = dir.resolve(img.getFileName() + ".err");
            ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                    DedupCrashChild.class.getName(), img.toString());
            pb.redirectError(err.toFile());
            return new Child(pb.start(), err);
        }

        private void drain() {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null;) {
                    synchronized (lines) {
                        lines.add(l);
                        lines.notifyAll();
                    }
                }
            } catch (IOException e) {
                // The pipe breaks when the child dies: what was read is what counts.
            }
        }

        boolean awaitLine(String prefix, int seconds) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            synchronized (lines) {
                while (line(prefix) == null) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || !process.isAlive() && !reader.isAlive()) {
                        return line(prefix) != null;
                    }
                    lines.wait(Math.max(1, Math.min(200, TimeUnit.NANOSECONDS.toMillis(left))));
                }
            }
            return true;
        }

        /** Waits until {@code n} lines start with the prefix, or DONE came, or the time is up. */
        boolean awaitCount(String prefix, int n, int seconds) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            synchronized (lines) {
                while (count(prefix) < n && line("DONE") == null) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || !process.isAlive() && !reader.isAlive()) {
                        return count(prefix) >= n;
                    }
                    lines.wait(Math.max(1, Math.min(200, TimeUnit.NANOSECONDS.toMillis(left))));
                }
                return count(prefix) >= n;
            }
        }

        int count(String prefix) {
            synchronized (lines) {
                int c = 0;
                for (String l : lines) {
                    if (l.startsWith(prefix)) {
                        c++;
                    }
                }
                return c;
            }
        }

        String line(String prefix) {
            synchronized (lines) {
                for (String l : lines) {
                    if (l.startsWith(prefix)) {
                        return l;
                    }
                }
                return null;
            }
        }

        void kill() throws InterruptedException {
            process.destroyForcibly(); // SIGKILL on Linux, this child only
            process.waitFor(30, TimeUnit.SECONDS);
            reader.join(10_000);
        }

        String describe() {
            String err;
            try {
                err = Files.exists(stderr) ? Files.readString(stderr) : "";
            } catch (IOException e) {
                err = e.toString();
            }
            return "exit " + (process.isAlive() ? "none" : process.exitValue()) + ", stdout " + lines + ", stderr "
                    + err.strip();
        }
    }
}
