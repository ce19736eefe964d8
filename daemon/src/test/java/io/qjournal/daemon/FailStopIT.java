package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.daemon.nbd.NbdTestClient;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real I/O error on one image: the daemon runs under {@code ulimit -f} (RLIMIT_FSIZE; the JVM
 * ignores SIGXFSZ, so a write past the limit fails with EFBIG) with one image just under the
 * limit and one small. Writes that grow the first fail: it turns FAILED (log and JMX Health),
 * its client gets errors from then on, while the other image keeps serving. The failed image
 * is not written again; the next start replays its journal and it checks clean.
 */
class FailStopIT {
    @TempDir
    Path dir;

    @Test
    void oneImageFailsTheOtherServes() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path big = dir.resolve("big.qcow2");
        Path small = dir.resolve("small.qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", big.toString(), "256M").requireSuccess();
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", small.toString(), "16M").requireSuccess();
        QemuTools.qemuIo("-c", "write -P 1 0 6M", big.toString()).requireSuccess();
        Path log = dir.resolve("qjournald.log");
        List<String> images = List.of("--image", "big=" + big, "--image", "small=" + small);

        // One clean run first: the first write allocates the journal area, which later runs reuse.
        runCleanly(log, images);
        long limitKiB = Files.size(big) / 1024 + 1024; // 1 MiB of room for big, plenty for small
        assertTrue(Files.size(small) / 1024 + 2048 < limitKiB, "small must stay far below the limit");

        int nbd = DaemonProcess.freePort();
        int jmxPort = DaemonProcess.freePort();
        List<String> args = new java.util.ArrayList<>(images);
        args.addAll(List.of("--nbd", "127.0.0.1:" + nbd, "--jmx", "127.0.0.1:" + jmxPort, "--jmx-no-auth"));
        InetSocketAddress addr = new InetSocketAddress("127.0.0.1", nbd);
        try (DaemonProcess d = DaemonProcess.start(log, Map.of(), args, "ulimit -f " + limitKiB + ";")) {
            d.awaitReady();
            try (NbdTestClient sc = NbdTestClient.connect(addr, "small");
                    NbdTestClient bc = NbdTestClient.connect(addr, "big");
                    Jmx jmx = new Jmx(jmxPort)) {
                byte[] chunk = new byte[65536];
                java.util.Arrays.fill(chunk, (byte) 7);
                sc.write(0, chunk, false);
                sc.flush();
                assertEquals("OK", jmx.image("big", "Health"));

                // Fresh clusters: more new data than the whole file holds, so even if every free
                // cluster inside it is reused, the file must grow past the limit.
                int chunks = (int) (limitKiB / 64) + 64;
                NbdTestClient.NbdReplyException failed = null;
                for (int i = 0; i < chunks && failed == null; i++) {
                    try {
                        bc.write((64L << 20) + i * 65536L, chunk, false);
                        if (i % 32 == 31) {
                            bc.flush();
                        }
                    } catch (NbdTestClient.NbdReplyException e) {
                        failed = e;
                    }
                }
                assertNotNull(failed, "writes growing big past RLIMIT_FSIZE never failed:\n" + d.output());
                d.awaitLog("[image big] FAILED: ", 10);
                String health = (String) jmx.image("big", "Health");
                assertTrue(health.startsWith("FAILED: "), health);
                assertEquals("OK", jmx.image("small", "Health"));

                // From now on big answers with errors, even reads and flushes.
                NbdTestClient.NbdReplyException r = org.junit.jupiter.api.Assertions.assertThrows(
                        NbdTestClient.NbdReplyException.class, () -> bc.read(0, 4096));
                assertEquals(5, r.errno(), "EIO");
                NbdTestClient.NbdReplyException w = org.junit.jupiter.api.Assertions.assertThrows(
                        NbdTestClient.NbdReplyException.class, () -> bc.write(0, chunk, true));
                assertNotEquals(0, w.errno());

                // small keeps serving: writes, flushes, reads back.
                byte[] other = new byte[65536];
                java.util.Arrays.fill(other, (byte) 9);
                sc.write(1 << 20, other, true);
                sc.flush();
                assertArrayEquals(other, sc.read(1 << 20, 65536));
                assertArrayEquals(chunk, sc.read(0, 65536));
            }
            String out = d.output();
            assertEquals(1, out.lines().filter(l -> l.contains("[image big] FAILED: ")).count(),
                    "one FAILED line:\n" + out);
            d.sigterm();
            // A FAILED image cannot be closed cleanly: the daemon says so with status 1.
            assertEquals(1, d.awaitExit(120), d.output());
            assertTrue(d.output().contains("[image small] closed cleanly"), d.output());
        }
        QemuTools.Result check = QemuTools.qemuImg("check", small.toString());
        assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
        // Without the limit, the next start replays big's journal; a clean stop leaves it clean.
        String out = runCleanly(log, images);
        System.out.println(Files.readString(log));
        assertTrue(out.contains("[image big] replayed dirty journal"), out);
        check = QemuTools.qemuImg("check", big.toString());
        assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
        QemuTools.qemuIo("-c", "read -P 1 0 6M", big.toString()).requireSuccess();
    }

    private String runCleanly(Path log, List<String> images) throws IOException, InterruptedException {
        List<String> args = new java.util.ArrayList<>(images);
        int nbd = DaemonProcess.freePort();
        args.addAll(List.of("--nbd", "127.0.0.1:" + nbd, "--jmx", "off"));
        try (DaemonProcess d = DaemonProcess.start(log, Map.of(), args)) {
            d.awaitReady();
            // The engine creates an image's journal at its first write: one write to each image
            // lays the journal area out in the file now, so the run under the limit reuses it.
            for (int i = 0; i + 1 < images.size(); i += 2) {
                String name = images.get(i + 1).substring(0, images.get(i + 1).indexOf('='));
                try (NbdTestClient c = NbdTestClient.connect(new InetSocketAddress("127.0.0.1", nbd), name)) {
                    byte[] block = c.read(0, 4096);
                    c.write(0, block, false);
                    c.flush();
                }
            }
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
            return d.output();
        }
    }
}
