package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Images are opened with QEMU-compatible locks: a second daemon or a qemu-io is refused clearly. */
class DaemonLockingIT {
    @TempDir
    Path dir;

    @Test
    void secondDaemonAndQemuIoAreRefused() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path img = dir.resolve("a.qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "16M").requireSuccess();
        List<String> first = List.of("--image", "a=" + img, "--nbd", "127.0.0.1:" + DaemonProcess.freePort(),
                "--jmx", "off");
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("first.log"), Map.of(), first)) {
            d.awaitReady();

            QemuTools.Result io = QemuTools.qemuIo("-c", "write 0 4k", img.toString());
            assertNotEquals(0, io.exitCode(), "qemu-io must not open an image qjournald serves");
            assertTrue(io.stderr().contains("lock"), io.stderr());

            List<String> second = List.of("--image", "other=" + img, "--nbd",
                    "127.0.0.1:" + DaemonProcess.freePort(), "--jmx", "off");
            // As under systemd: JOURNAL_STREAM set, so the journal's own timestamps are the only ones.
            try (DaemonProcess d2 = DaemonProcess.start(dir.resolve("second.log"),
                    Map.of("JOURNAL_STREAM", "8:12345"), second)) {
                assertEquals(1, d2.awaitExit(60), d2.output());
                String out = d2.output();
                // ... and a priority prefix journald turns into the entry's priority.
                assertTrue(out.lines().allMatch(l -> l.matches("<[346]>qjournald: .*")), "no timestamps:\n" + out);
                assertTrue(out.contains("<3>qjournald: [image other] cannot open " + img
                        + ": Failed to get \"write\" lock"), out);
                assertEquals(1, out.lines().filter(l -> l.contains("cannot open")).count(),
                        "one line, no stack trace:\n" + out);
                assertTrue(!out.contains("\tat "), out);
            }
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
        }
        QemuTools.qemuImg("check", img.toString()).requireSuccess();
    }
}
