package io.qjournal.qcow2.crash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
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
 * Process crashes: a child JVM writes through the journal into a real file and is killed with
 * SIGKILL at random moments. After each kill the image is opened for writing (replay) and
 * closed; it must then check clean (qemu-img check when installed, else our checker) and every
 * write the child reported flushed must read back. The same file goes through all rounds, so
 * later rounds replay over images earlier rounds left behind.
 */
class ProcessCrashIT {
    private static final int ROUNDS = Integer.getInteger("qjournal.crash.kills", 24);
    private static final int INTERVAL = 8;
    private static final String JOURNAL = "size=1M,block-size=4k,commit-interval=1s,commit-datasize=64k";
    private static final long SEED = Long.getLong("qjournal.crash.seed", 20261125L);

    @TempDir
    Path tmp;

    @Test
    void sigkillAtRandomMoments() throws Exception {
        boolean qemu = CrashImages.qemuUsable("qemu-img check after each kill (our checker is used instead)");
        Path file = tmp.resolve("victim.qcow2");
        Qcow2Image.create(file, new CreateOptions().size(64L << 20).clusterSize(4096));
        byte[] expected = new byte[CrashChild.WINDOW];
        Random rnd = new Random(SEED);
        List<String> failures = new ArrayList<>();
        int kills = 0;
        int dirty = 0;
        for (int round = 0; round < ROUNDS; round++) {
            long childSeed = SEED * 1000 + round;
            int delayMs = 50 + rnd.nextInt(1500);
            Child c = startChild(file, childSeed);
            String ctx = "round " + round + " (seed " + SEED + ", child seed " + childSeed + ", kill after "
                    + delayMs + " ms)";
            if (!c.awaitReady(60)) {
                c.kill();
                failures.add(ctx + ": child never became ready: " + c.describe());
                break;
            }
            Thread.sleep(delayMs);
            boolean wasAlive = c.process.isAlive();
            c.kill();
            if (wasAlive) {
                kills++;
            } else {
                failures.add(ctx + ": child exited by itself before the kill: " + c.describe());
                break;
            }
            int fromStdout = c.lastFlushed();
            int flushed = Math.max(fromStdout, lastFlushedInLog(Path.of(file + ".flushed")));
            if (flushed != fromStdout) {
                System.out.println("process crash " + ctx + ": stdout showed FLUSHED " + fromStdout
                        + ", the side file " + flushed);
            }
            if (!c.journalOn()) {
                failures.add(ctx + ": the child's image had no live journal");
            }
            try (FileStorage s = FileStorage.open(file, false)) {
                if (CrashImages.journalDirty(CrashImages.header(s))) {
                    dirty++;
                }
            }
            String problem = verify(file, expected, childSeed, flushed, qemu);
            System.out.println("process crash " + ctx + ": " + flushed + " writes flushed before the kill"
                    + (problem == null ? ", image clean and data intact" : ": " + problem));
            if (problem != null) {
                failures.add(ctx + ", " + flushed + " writes flushed: " + problem);
                // Carry on from whatever is on disk so later rounds still test replay.
            }
            try (Qcow2Image img = Qcow2Image.open(file, OpenOptions.readOnly())) {
                img.read(0, expected, 0, expected.length);
            }
        }
        System.out.println("process crash: " + kills + " SIGKILLs, " + dirty + " left the journal dirty (replayed), "
                + failures.size() + " failed rounds");
        assertEquals(List.of(), failures, "process crash failures");
        assertTrue(kills >= 20 || ROUNDS < 20, "only " + kills + " kills happened");
    }

    private static int lastFlushedInLog(Path log) throws IOException {
        int n = 0;
        if (Files.exists(log)) {
            for (String l : Files.readAllLines(log, StandardCharsets.US_ASCII)) {
                if (l.startsWith("FLUSHED ")) {
                    n = Math.max(n, Integer.parseInt(l.substring(8).trim()));
                }
            }
        }
        return n;
    }

    /** Replays by a read-write open, closes, checks the file and the flushed data. */
    private static String verify(Path file, byte[] before, long childSeed, int flushed, boolean qemu)
            throws IOException {
        try (Qcow2Image img = Qcow2Image.open(file, OpenOptions.readWrite())) {
            // Opening replays; closing writes everything home.
        } catch (IOException | RuntimeException e) {
            return "open for replay failed: " + e;
        }
        if (qemu) {
            QemuTools.Result r = QemuTools.qemuImg("check", "-f", "qcow2", file.toString());
            if (r.exitCode() != 0) {
                return "qemu-img check exit " + r.exitCode() + ": " + (r.stdout() + r.stderr()).strip();
            }
        }
        try (FileStorage s = FileStorage.open(file, false)) {
            Header h = CrashImages.header(s);
            CheckResult r = ImageChecker.check(s, RepairMode.NONE, CrashImages.extraRanges(h));
            if (!r.isClean()) {
                return "ImageChecker: " + r.corruptions() + " corruptions, " + r.leaks() + " leaks, "
                        + r.checkErrors() + " check errors; " + r.messages().subList(0, Math.min(3,
                        r.messages().size()));
            }
        }
        GuestModel m = new GuestModel(before, 64L << 20);
        int upTo = flushed + 2 * INTERVAL; // the child may have finished one more flush than it printed
        for (int i = 0; i < upTo; i++) {
            Object[] op = CrashChild.op(childSeed, i);
            byte[] data = (byte[]) op[1];
            m.add(new GuestModel.Op(GuestModel.Kind.WRITE, (Long) op[0], data.length, data, i, i + 1));
            if (i + 1 == flushed) {
                m.add(new GuestModel.Op(GuestModel.Kind.FLUSH, 0, 0, null, i + 1, i + 1));
            }
        }
        byte[] actual = new byte[before.length];
        try (Qcow2Image img = Qcow2Image.open(file, OpenOptions.readOnly())) {
            img.read(0, actual, 0, actual.length);
        }
        return m.at(upTo).check(actual, actual.length);
    }

    private Child startChild(Path file, long seed) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                CrashChild.class.getName(), file.toString(), Long.toString(seed), Integer.toString(INTERVAL), JOURNAL);
        pb.redirectError(tmp.resolve("child-" + seed + ".err").toFile());
        return new Child(pb.start(), tmp.resolve("child-" + seed + ".err"));
    }

    /** A running child and the lines it printed. */
    private static final class Child {
        final Process process;
        final Path stderr;
        final List<String> lines = new ArrayList<>();
        final Thread reader;

        Child(Process process, Path stderr) {
            this.process = process;
            this.stderr = stderr;
            this.reader = new Thread(this::drain, "crash-child-stdout");
            reader.setDaemon(true);
            reader.start();
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

        boolean awaitReady(int seconds) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            synchronized (lines) {
                while (lines.stream().noneMatch(l -> l.startsWith("READY"))) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || !process.isAlive() && lines.isEmpty()) {
                        return false;
                    }
                    lines.wait(Math.max(1, Math.min(200, TimeUnit.NANOSECONDS.toMillis(left))));
                }
            }
            return true;
        }

        void kill() throws InterruptedException {
            process.destroyForcibly(); // SIGKILL on Linux
            process.waitFor(30, TimeUnit.SECONDS);
            reader.join(10_000);
        }

        boolean journalOn() {
            synchronized (lines) {
                return lines.contains("READY true");
            }
        }

        int lastFlushed() {
            synchronized (lines) {
                int n = 0;
                for (String l : lines) {
                    if (l.startsWith("FLUSHED ")) {
                        n = Integer.parseInt(l.substring(8).trim());
                    }
                }
                return n;
            }
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
