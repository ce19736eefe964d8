package io.qjournal.qcow2.crash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.storage.MemoryStorage;
import io.qjournal.qcow2.testsupport.FaultyStorage;
import io.qjournal.qcow2.testsupport.FaultyStorage.Kind;
import io.qjournal.qcow2.testsupport.FaultyStorage.Target;
import io.qjournal.qcow2.testsupport.PowerLossStorage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Fail-stop: the Nth write or flush of a journalled image fails (EIO, ENOSPC, short write).
 * The caller sees an IOException; the process then stops (after trying to close). What the
 * disk holds must replay into an image without corruption in which every flush that returned is
 * kept. Leaked clusters are tolerated after an I/O error (as in QEMU) but counted in the log.
 */
class FailStopTest {
    private static final int MIB = 1 << 20;
    private static final int WINDOW = MIB;
    private static final JournalOptions JOURNAL =
            JournalOptions.parse("size=256K,block-size=4k,commit-interval=3600s,commit-datasize=32k");
    /** false: the process dies right after the error instead of trying to close (tells the two apart). */
    private static final boolean CLOSE_AFTER_ERROR = !Boolean.getBoolean("qjournal.failstop.noclose");
    private static final List<String> leakyRuns = new ArrayList<>();
    private static final long SEED = Long.getLong("qjournal.crash.seed", 20261125L);

    @Test
    void everyFaultPointLeavesARecoverableImage() throws IOException {
        MemoryStorage s = new MemoryStorage("failstop.qcow2");
        Qcow2Image.create(s, new CreateOptions().size(64L * MIB).clusterSize(4096));
        byte[] base = s.toByteArray();
        FaultyStorage dry = new FaultyStorage(new PowerLossStorage("dry", base));
        assertEquals(null, runOnce(base, dry), "the workload fails without any fault");
        long writes = dry.writeCount();
        long flushes = dry.flushCount();
        List<String> failures = new ArrayList<>();
        int runs = 0;
        for (Kind kind : new Kind[] {Kind.EIO, Kind.SHORT_WRITE, Kind.ENOSPC}) {
            for (long n = 1 + kind.ordinal(); n <= writes; n += Math.max(1, writes / 40)) {
                runs++;
                check(base, Target.WRITE, (int) n, kind, failures);
            }
        }
        for (long n = 1; n <= flushes; n += Math.max(1, flushes / 40)) {
            runs++;
            check(base, Target.FLUSH, (int) n, Kind.EIO, failures);
        }
        failures.forEach(f -> System.out.println("  fail-stop failure: " + f));
        System.out.println("fail-stop: " + runs + " fault points (" + writes + " writes, " + flushes
                + " flushes in the workload), " + failures.size() + " failed, " + leakyRuns.size()
                + " left leaked clusters after replay (tolerated)");
        assertEquals(List.of(), failures.subList(0, Math.min(8, failures.size())),
                failures.size() + " of " + runs + " fault points left a bad image");
        assertTrue(runs >= 100, "only " + runs + " fault points");
    }

    private static void check(byte[] base, Target target, int n, Kind kind, List<String> failures) throws IOException {
        FaultyStorage fs = new FaultyStorage(new PowerLossStorage("failstop.qcow2", base));
        fs.failNth("f", target, n, kind);
        String p = runOnce(base, fs);
        if (p != null) {
            failures.add(kind + " on " + target.name().toLowerCase() + " #" + n + " (seed " + SEED + "): " + p);
        }
    }

    /** Null when fine: the workload on fs, fail-stop at the first error, then the image checked. */
    private static String runOnce(byte[] base, FaultyStorage fs) throws IOException {
        PowerLossStorage pls = (PowerLossStorage) fs.inner();
        GuestModel model = new GuestModel(new byte[WINDOW], 64L * MIB);
        Qcow2Image img;
        try {
            img = Qcow2Image.open(fs, OpenOptions.readWrite().journal(JOURNAL), null);
        } catch (IOException e) {
            img = null;
        }
        if (img != null) {
            GuestDriver d = new GuestDriver(img, pls, model);
            try {
                Random rnd = new Random(SEED);
                for (int i = 0; i < 150; i++) {
                    int len = 1 + rnd.nextInt(12000);
                    byte[] b = new byte[len];
                    rnd.nextBytes(b);
                    d.write(rnd.nextInt(WINDOW - len), b);
                    if (rnd.nextInt(4) == 0) {
                        d.flush();
                    }
                }
                d.flush();
            } catch (IOException e) {
                if (!fs.firedFaults().isEmpty() && !e.getMessage().contains("failstop.qcow2")) {
                    return "error does not name the file: " + e.getMessage();
                }
            }
            if (CLOSE_AFTER_ERROR || fs.firedFaults().isEmpty()) {
                try {
                    d.close();
                } catch (IOException | RuntimeException e) {
                    // Fail-stop: a close after an I/O error may fail too.
                }
            }
        }
        // The process stops; everything it wrote is in the page cache and reaches the file.
        int end = pls.opCount();
        MemoryStorage after = new MemoryStorage("failstop.qcow2", pls.allLanded(end));
        try (Qcow2Image r = Qcow2Image.open(after, OpenOptions.readWrite().journal(JOURNAL), null)) {
            // replay
        } catch (IOException | RuntimeException e) {
            return "reopening for replay failed: " + e;
        }
        CheckResult c = ImageChecker.check(after, RepairMode.NONE);
        if (c.leaks() > 0) {
            leakyRuns.add(fs.firedFaults() + " " + c.leaks() + " leaks");
        }
        // Leaks after an I/O error are tolerated (reported): QEMU leaks there too.
        if (c.corruptions() > 0 || c.checkErrors() > 0) {
            return "after replay: " + c.corruptions() + " corruptions, " + c.leaks() + " leaks, " + c.checkErrors()
                    + " check errors; " + c.messages().subList(0, Math.min(3, c.messages().size()));
        }
        byte[] guest = new byte[WINDOW];
        try (Qcow2Image r = Qcow2Image.open(after, OpenOptions.readOnly(), null)) {
            r.read(0, guest, 0, WINDOW);
        }
        String bad = model.at(end).check(guest, WINDOW);
        return bad == null ? null : CrashHarness.DATA + bad;
    }
}
