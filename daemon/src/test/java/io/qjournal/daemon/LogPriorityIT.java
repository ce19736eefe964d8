package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.DataInputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Under systemd (JOURNAL_STREAM set) every line carries its sd-daemon priority, so that
 * {@code journalctl -p err} finds a failed image and {@code -p warning} a misbehaving client;
 * anywhere else the lines have timestamps and no prefix.
 */
class LogPriorityIT {
    private static final Map<String, String> UNDER_SYSTEMD = Map.of("JOURNAL_STREAM", "8:12345");

    @TempDir
    Path dir;

    @Test
    void underSystemdEveryLineHasItsPriority() throws Exception {
        String out = serveAndMisbehave(UNDER_SYSTEMD, "systemd.log");
        assertTrue(out.lines().allMatch(l -> l.matches("<[346]>qjournald: .*")), out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("<6>qjournald: ready: ")), out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("<4>qjournald: NBD: client ")
                && l.endsWith("unknown client flags 0xffffffff; disconnecting")), out);
        assertTrue(out.lines().anyMatch(l -> l.equals("<6>qjournald: stopped; every image closed cleanly")), out);

        String failed = failToOpen(UNDER_SYSTEMD, "systemd-failed.log");
        assertTrue(failed.lines().anyMatch(l -> l.startsWith("<3>qjournald: [image bad] cannot open ")), failed);
        assertTrue(failed.lines().allMatch(l -> l.matches("<[346]>qjournald: .*")), failed);
    }

    @Test
    void elsewhereNoPrefixButTimestamps() throws Exception {
        String out = serveAndMisbehave(Map.of(), "plain.log") + failToOpen(Map.of(), "plain-failed.log");
        // 2026-12-07T11:31:09.074Z qjournald: ...
        assertTrue(out.lines().allMatch(l -> l.matches("\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z qjournald: .*")), out);
        assertTrue(out.contains("unknown client flags 0xffffffff; disconnecting"), out);
        assertTrue(out.contains("[image bad] cannot open "), out);
    }

    /** Serves an image, lets a client send nonsense (a warning), stops cleanly; the run's log. */
    private String serveAndMisbehave(Map<String, String> env, String log) throws Exception {
        QemuTools.assumeAvailable();
        Path img = dir.resolve("good.qcow2");
        if (!Files.exists(img)) {
            QemuTools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "1M").requireSuccess();
        }
        int port = DaemonProcess.freePort();
        try (DaemonProcess d = DaemonProcess.start(dir.resolve(log), env,
                List.of("--image", "good=" + img, "--nbd", "127.0.0.1:" + port, "--jmx", "off"))) {
            d.awaitReady();
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
                s.setSoTimeout(10_000);
                // The greeting (NBDMAGIC, IHAVEOPT, handshake flags), then client flags no server knows.
                new DataInputStream(s.getInputStream()).readFully(new byte[18]);
                OutputStream o = s.getOutputStream();
                o.write(new byte[] {-1, -1, -1, -1});
                o.flush();
                try {
                    s.getInputStream().read();
                } catch (java.io.IOException hungUp) {
                    // a reset is a hang-up too
                }
            }
            d.awaitLog("disconnecting", 30);
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
            return d.output();
        }
    }

    /** An image that is not qcow2 at all: the start fails with an error. */
    private String failToOpen(Map<String, String> env, String log) throws Exception {
        Path bad = Files.writeString(dir.resolve("bad.qcow2"), "this is not a qcow2 image");
        try (DaemonProcess d = DaemonProcess.start(dir.resolve(log), env,
                List.of("--image", "bad=" + bad, "--nbd", "127.0.0.1:" + DaemonProcess.freePort(), "--jmx", "off"))) {
            assertEquals(1, d.awaitExit(60), d.output());
            return d.output();
        }
    }
}
