package io.qjournal.cli.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * systemd/qjournal-sweep.{service,timer} pass `systemd-analyze verify`. Verify wants
 * ExecStart's program to exist, so the service is verified as a copy naming this checkout's
 * bin/qjournal (what the installed /usr/local/bin/qjournal link points to).
 */
class SweepUnitsIT {
    static final String EXEC = "/usr/local/bin/qjournal";

    @TempDir
    Path dir;

    @Test
    void unitsVerify() throws Exception {
        requireAnalyze();
        Path home = BatchTools.qjournal().getParent().getParent();
        String service = Files.readString(home.resolve("systemd/qjournal-sweep.service"));
        String timer = Files.readString(home.resolve("systemd/qjournal-sweep.timer"));
        List<String> s = service.lines().map(String::strip).toList();
        List<String> t = timer.lines().map(String::strip).toList();
        for (String key : List.of("Type=oneshot", "User=qjournal", "ProtectSystem=strict",
                "ReadWritePaths=/var/lib/qjournal/images", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes",
                "ExecStart=" + EXEC + " batch start integrity-sweep -p dirs=/var/lib/qjournal/images --wait")) {
            assertTrue(s.contains(key), "service lacks " + key);
        }
        assertTrue(t.contains("Persistent=true"), "timer lacks Persistent=true");
        assertTrue(t.stream().anyMatch(l -> l.startsWith("OnCalendar=")), "timer lacks OnCalendar");
        assertTrue(t.stream().anyMatch(l -> l.startsWith("RandomizedDelaySec=")), "timer lacks RandomizedDelaySec");
        Files.writeString(dir.resolve("qjournal-sweep.service"), service.replace("ExecStart=" + EXEC,
                "ExecStart=" + BatchTools.qjournal()));
        Files.writeString(dir.resolve("qjournal-sweep.timer"), timer);
        QemuTools.Result r = QemuTools.run("systemd-analyze", "verify", dir.resolve("qjournal-sweep.timer").toString(),
                dir.resolve("qjournal-sweep.service").toString());
        String out = r.stdout() + r.stderr();
        assertEquals(0, r.exitCode(), out);
        // Verify only warns (exit 0) about unknown keys or bad values: any line naming our units fails.
        assertFalse(out.contains("qjournal-sweep"), out);
    }

    @Test
    void verifyCatchesABrokenTimer() throws Exception {
        requireAnalyze();
        Files.writeString(dir.resolve("qjournal-sweep.service"), "[Service]\nType=oneshot\nExecStart="
                + BatchTools.qjournal() + " --version\n");
        Files.writeString(dir.resolve("qjournal-sweep.timer"), "[Timer]\nOnCalendar=nightly at two\nPersistant=true\n");
        QemuTools.Result r = QemuTools.run("systemd-analyze", "verify", dir.resolve("qjournal-sweep.timer").toString());
        assertTrue((r.stdout() + r.stderr()).contains("qjournal-sweep.timer"), r.stdout() + r.stderr());
    }

    private static void requireAnalyze() {
        if (!QemuTools.available("systemd-analyze")) {
            String msg = "systemd-analyze is not installed";
            if (QemuTools.required()) {
                fail(msg + " (QJOURNAL_REQUIRE_QEMU=1)");
            }
            Assumptions.assumeTrue(false, msg + "; skipped");
        }
    }
}
