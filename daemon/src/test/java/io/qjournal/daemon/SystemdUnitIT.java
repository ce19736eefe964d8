package io.qjournal.daemon;

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
 * The shipped unit passes {@code systemd-analyze verify}. Verify insists that ExecStart's
 * program exists, and /usr/local/bin/qjournald is only there once installed, so the unit is
 * verified as a copy whose ExecStart names this checkout's bin/qjournald (what the installed
 * link points to); every other line is the shipped one.
 */
class SystemdUnitIT {
    static final String EXEC_START = "ExecStart=/usr/local/bin/qjournald --config /etc/qjournal/qjournald.conf";

    @TempDir
    Path dir;

    @Test
    void unitVerifies() throws Exception {
        if (!QemuTools.available("systemd-analyze")) {
            String msg = "systemd-analyze is not installed";
            if (QemuTools.required()) {
                fail(msg + " (QJOURNAL_REQUIRE_QEMU=1)");
            }
            Assumptions.assumeTrue(false, msg + "; skipped");
        }
        Path unit = DaemonProcess.home().resolve("systemd/qjournald.service");
        String text = Files.readString(unit);
        List<String> lines = text.lines().map(String::strip).toList();
        assertTrue(lines.contains(EXEC_START), "ExecStart as documented");
        for (String key : List.of("Type=notify", "Restart=on-failure", "TimeoutStopSec=120", "User=qjournal",
                "ProtectSystem=strict", "ReadWritePaths=/var/lib/qjournal/images", "NoNewPrivileges=yes",
                "PrivateTmp=yes", "ProtectHome=yes", "LimitNOFILE=65536", "KillSignal=SIGTERM")) {
            assertTrue(lines.contains(key), "unit lacks " + key);
        }
        Path copy = dir.resolve("qjournald.service");
        Files.writeString(copy, text.replace(EXEC_START, "ExecStart=" + DaemonProcess.launcher()
                + " --config /etc/qjournal/qjournald.conf"));
        QemuTools.Result r = QemuTools.run("systemd-analyze", "verify", copy.toString());
        String out = r.stdout() + r.stderr();
        assertEquals(0, r.exitCode(), out);
        // Verify only warns (status 0) about unknown keys or bad values: any line about our unit fails.
        assertFalse(out.contains("qjournald.service"), out);
    }

    @Test
    void verifyCatchesABrokenUnit() throws Exception {
        // The check above can fail: a unit with a bad directive is reported.
        Assumptions.assumeTrue(QemuTools.available("systemd-analyze"));
        Path copy = dir.resolve("qjournald.service");
        Files.writeString(copy, "[Service]\nType=notify\nExecStart=" + DaemonProcess.launcher()
                + "\nProtectSytem=strict\n");
        QemuTools.Result r = QemuTools.run("systemd-analyze", "verify", copy.toString());
        assertTrue((r.stdout() + r.stderr()).contains("qjournald.service"), r.stdout() + r.stderr());
    }
}
