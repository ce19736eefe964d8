package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.daemon.nbd.NbdProtocol;
import io.qjournal.daemon.nbd.NbdTestClient;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile NBD clients against a real qjournald (bin/qjournald, its own JVM and direct-memory
 * cap): a client that stalls holds back only itself, stalled handshakes are closed, and the
 * Unix socket is 0660 whatever the umask. The good client is a real qemu-io.
 */
class NbdFairnessIT {
    private static final int BIG = 32 << 20;
    @TempDir
    Path dir;

    private DaemonProcess start(int port, String shellPrefix, String... extra) throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        for (String name : List.of("a", "b")) {
            Path img = dir.resolve(name + ".qcow2");
            if (!Files.exists(img)) {
                QemuTools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "64M").requireSuccess();
            }
        }
        List<String> args = new ArrayList<>(List.of("--image", "a=" + dir.resolve("a.qcow2"),
                "--image", "b=" + dir.resolve("b.qcow2"), "--jmx", "off"));
        args.addAll(port > 0 ? List.of("--nbd", "127.0.0.1:" + port) : List.of("--nbd", "off"));
        args.addAll(List.of(extra));
        DaemonProcess d = DaemonProcess.start(dir.resolve("qjournald.log"), Map.of(), args, shellPrefix);
        d.awaitReady();
        return d;
    }

    /** qemu-io reads 4 KiB from the export and must be done within 2 s. */
    private static void goodClientReads(int port, String export) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("qemu-io", "-f", "raw", "-c", "read 0 4k",
                "nbd://127.0.0.1:" + port + "/" + export);
        pb.redirectErrorStream(true);
        long t0 = System.nanoTime();
        Process p = pb.start();
        p.getOutputStream().close();
        boolean done = p.waitFor(2, TimeUnit.SECONDS);
        if (!done) {
            p.destroyForcibly();
            p.waitFor(5, TimeUnit.SECONDS);
            fail("qemu-io got no answer from export " + export + " within 2 s");
        }
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("read 4096/4096 bytes"), out);
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(2));
        // The test client too, on a fresh connection.
        try (NbdTestClient c = NbdTestClient.connect(new InetSocketAddress("127.0.0.1", port), export)) {
            c.socket().setSoTimeout(2000);
            assertEquals(4096, c.read(0, 4096).length);
        }
    }

    private static NbdTestClient attacker(int port, String export) throws IOException {
        NbdTestClient c = NbdTestClient.connect(new InetSocketAddress("127.0.0.1", port), export);
        c.socket().setReceiveBufferSize(4096);
        return c;
    }

    /**
     * Eight connections each send only the header of a 32 MiB WRITE (less the 64 bytes the
     * server once added per request, so that they used to fill its 256 MiB budget exactly).
     */
    @Test
    void writeHeadersWithoutPayloadStallOnlyTheirOwnConnections() throws Exception {
        int port = DaemonProcess.freePort();
        List<NbdTestClient> attackers = new ArrayList<>();
        try (DaemonProcess d = start(port, null, "--nbd-payload-timeout", "5s")) {
            try {
                for (int i = 0; i < 8; i++) {
                    NbdTestClient c = attacker(port, i % 2 == 0 ? "a" : "b");
                    c.send(NbdProtocol.CMD_WRITE, 0, 0, BIG - 64, null);
                    attackers.add(c);
                }
                Thread.sleep(500);
                goodClientReads(port, "a");
                goodClientReads(port, "b");
                // The payload timeout ends them, each with one line naming the peer.
                d.awaitLog("WRITE payload not received within 5 s; disconnecting", 20);
                for (NbdTestClient c : attackers) {
                    assertTrue(c.awaitClose(), "payload staller closed");
                }
                goodClientReads(port, "a");
            } finally {
                for (NbdTestClient c : attackers) {
                    c.close();
                }
            }
        }
    }

    /** Four connections each ask for two 32 MiB READs and never read the replies. */
    @Test
    void unreadRepliesStallOnlyTheirOwnConnections() throws Exception {
        int port = DaemonProcess.freePort();
        List<NbdTestClient> attackers = new ArrayList<>();
        try (DaemonProcess d = start(port, null, "--nbd-reply-timeout", "5s")) {
            try {
                for (int i = 0; i < 4; i++) {
                    NbdTestClient c = attacker(port, i % 2 == 0 ? "a" : "b");
                    c.send(NbdProtocol.CMD_READ, 0, 0, BIG - 64, null);
                    c.send(NbdProtocol.CMD_READ, 0, BIG, BIG - 64, null);
                    attackers.add(c);
                }
                Thread.sleep(1000); // the replies pile up
                goodClientReads(port, "a");
                goodClientReads(port, "b");
                d.awaitLog("replies not read for 5 s; disconnecting", 20);
                goodClientReads(port, "b");
            } finally {
                for (NbdTestClient c : attackers) {
                    c.close();
                }
            }
        }
    }

    @Test
    void stalledHandshakesAreClosedWithinTwelveSecondsWhileAGoodClientReads() throws Exception {
        int port = DaemonProcess.freePort();
        List<Socket> stalled = new ArrayList<>();
        try (DaemonProcess d = start(port, null)) {
            try {
                long t0 = System.nanoTime();
                for (int i = 0; i < 200; i++) {
                    Socket s = new Socket();
                    s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
                    s.setSoTimeout(15_000);
                    stalled.add(s);
                }
                goodClientReads(port, "a");
                goodClientReads(port, "b");
                for (Socket s : stalled) {
                    InputStream in = s.getInputStream();
                    in.readNBytes(18); // the greeting; then nothing until the server closes
                    int next = in.read();
                    assertEquals(-1, next, "a stalled handshake is closed by the server");
                }
                long took = System.nanoTime() - t0;
                assertTrue(took < TimeUnit.SECONDS.toNanos(12), "closed after " + took / 1_000_000 + " ms");
                d.awaitLog("handshake not finished within 10 s", 5);
            } finally {
                for (Socket s : stalled) {
                    s.close();
                }
            }
        }
    }

    @Test
    void theUnixSocketIs0660WhateverTheUmask() throws Exception {
        for (String umask : List.of("0022", "0077", "0000")) {
            Path sock = dir.resolve("nbd-" + umask + ".sock");
            try (DaemonProcess d = start(0, "umask " + umask + ";", "--nbd-socket", sock.toString())) {
                assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(sock)),
                        "socket mode under umask " + umask);
                try (NbdTestClient c = NbdTestClient.connectUnix(sock, "a")) {
                    assertEquals(4096, c.read(0, 4096).length);
                }
            }
        }
    }
}
