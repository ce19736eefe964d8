package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.daemon.nbd.NbdTestClient;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A second SIGTERM, or a stop that overruns its timeout, exits at once without closing the
 * images, yet skips no guarantee: the next start replays the journal, every flushed write
 * reads back, and a clean stop leaves qemu-img check clean. The stop is held open with the
 * test-only property qjournald.testStopPauseMillis.
 */
class ForcedStopIT {
    @TempDir
    Path dir;

    @Test
    void secondSigterm() throws Exception {
        forcedStop("second", "-Dqjournald.testStopPauseMillis=30000", true);
    }

    @Test
    void stopTimeout() throws Exception {
        forcedStop("timeout", "-Dqjournald.testStopPauseMillis=30000 -Dqjournald.stopTimeoutSeconds=1", false);
    }

    private void forcedStop(String name, String javaOpts, boolean secondSignal) throws Exception {
        QemuTools.assumeAvailable();
        Path img = dir.resolve(name + ".qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "64M").requireSuccess();
        Path log = dir.resolve(name + ".log");
        int port = DaemonProcess.freePort();
        // A long commit interval: only the client's FLUSH commits, so the journal stays dirty.
        List<String> args = List.of("--image", "x=" + img + ",commit-interval=60s,commit-datasize=1G",
                "--nbd", "127.0.0.1:" + port, "--jmx", "off");
        byte[] data = new byte[65536];
        Arrays.fill(data, (byte) 0x6b);
        try (DaemonProcess d = DaemonProcess.start(log, Map.of("JAVA_OPTS", "-Xmx128m " + javaOpts), args)) {
            d.awaitReady();
            try (NbdTestClient c = NbdTestClient.connect(new InetSocketAddress("127.0.0.1", port), "x")) {
                for (int i = 0; i < 16; i++) {
                    c.write((long) i << 20, data, false);
                }
                c.flush();
            }
            d.sigterm();
            d.awaitLog("pausing the stop", 30);
            if (secondSignal) {
                d.sigterm();
            }
            assertEquals(1, d.awaitExit(60), d.output());
            String out = d.output();
            assertTrue(out.contains(secondSignal ? "second SIGTERM: exiting now" : "stop did not finish within 1 s"),
                    out);
            assertTrue(!out.contains("[image x] closed"), "the image must not have been closed:\n" + out);
        }
        port = DaemonProcess.freePort();
        args = List.of("--image", "x=" + img, "--nbd", "127.0.0.1:" + port, "--jmx", "off");
        try (DaemonProcess d = DaemonProcess.start(log, Map.of(), args)) {
            d.awaitReady();
            assertTrue(d.output().contains("[image x] replayed dirty journal"), d.output());
            try (NbdTestClient c = NbdTestClient.connect(new InetSocketAddress("127.0.0.1", port), "x")) {
                for (int i = 0; i < 16; i++) {
                    assertArrayEquals(data, c.read((long) i << 20, data.length), "block " + i);
                }
            }
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
        }
        QemuTools.Result check = QemuTools.qemuImg("check", img.toString());
        assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    }
}
