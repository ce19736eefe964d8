package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.daemon.nbd.NbdProtocol;
import io.qjournal.daemon.nbd.NbdTestClient;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM while clients keep 8 writes in flight each: every client sees its connection end,
 * the daemon exits 0, every image is closed cleanly (qemu-img check clean, no journal), and
 * nothing acknowledged is lost, as QEMU itself reads the images afterwards.
 */
class SigtermUnderLoadIT {
    static final int BLOCKS = 1024; // one per 64 KiB cluster of a 64 MiB image
    static final int DEPTH = 8;

    @TempDir
    Path dir;

    @Test
    void cleanStopUnderLoad() throws Exception {
        QemuTools.assumeAvailable();
        long seed = Long.getLong("qjournal.seed", System.nanoTime());
        System.out.println("SigtermUnderLoadIT seed " + seed + " (rerun with -Dqjournal.seed=" + seed + ")");
        Random rnd = new Random(seed);
        String[] names = {"a", "b"};
        Map<String, BlockModel> models = new HashMap<>();
        List<String> args = new ArrayList<>();
        for (String n : names) {
            QemuTools.qemuImg("create", "-q", "-f", "qcow2", dir.resolve(n + ".qcow2").toString(), "64M")
                    .requireSuccess();
            models.put(n, new BlockModel(BLOCKS));
            args.addAll(List.of("--image", n + "=" + dir.resolve(n + ".qcow2")));
        }
        int port = DaemonProcess.freePort();
        args.addAll(List.of("--nbd", "127.0.0.1:" + port, "--jmx", "off"));
        AtomicLong versions = new AtomicLong();
        Map<Integer, Throwable> endings = new ConcurrentHashMap<>();
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("qjournald.log"), Map.of(), args)) {
            d.awaitReady();
            List<Thread> clients = new ArrayList<>();
            // Two clients on a (disjoint halves), one on b.
            int[][] plan = {{0, 0, BLOCKS / 2}, {0, BLOCKS / 2, BLOCKS}, {1, 0, BLOCKS}};
            for (int i = 0; i < plan.length; i++) {
                int id = i;
                String export = names[plan[i][0]];
                BlockModel m = models.get(export);
                long s = rnd.nextLong();
                Thread t = new Thread(() -> endings.put(id,
                        load(port, export, m, versions, plan[id][1], plan[id][2], s)));
                t.start();
                clients.add(t);
            }
            Thread.sleep(800 + rnd.nextInt(700));
            d.sigterm();
            assertEquals(0, d.awaitExit(120), d.output());
            for (Thread t : clients) {
                t.join(60_000);
                assertFalse(t.isAlive(), "a client still runs after the daemon exited");
            }
            String log = d.output();
            System.out.println(log);
            for (String n : names) {
                assertTrue(log.contains("[image " + n + "] closed cleanly"), log);
            }
            assertTrue(log.contains("stopped; every image closed cleanly"), log);
        }
        assertEquals(3, endings.size());
        for (Map.Entry<Integer, Throwable> e : endings.entrySet()) {
            // Each client saw its connection end: EOF/reset, or an ESHUTDOWN reply before it.
            Throwable t = e.getValue();
            boolean ended = t instanceof IOException && !(t instanceof NbdTestClient.NbdReplyException)
                    || t instanceof NbdTestClient.NbdReplyException r && r.errno() == 108;
            assertTrue(ended, "client " + e.getKey() + " ended with " + t);
        }
        assertTrue(versions.get() > 100, "the load wrote only " + versions.get() + " blocks");
        for (String n : names) {
            Path img = dir.resolve(n + ".qcow2");
            QemuTools.Result check = QemuTools.qemuImg("check", img.toString());
            assertEquals(0, check.exitCode(), n + ": " + check.stdout() + check.stderr());
            Path raw = dir.resolve(n + ".raw");
            QemuTools.qemuImg("convert", "-O", "raw", img.toString(), raw.toString()).requireSuccess();
            byte[] all = Files.readAllBytes(raw);
            BlockModel m = models.get(n);
            for (int b = 0; b < BLOCKS; b++) {
                int off = b << 16;
                m.verifyClean(b, BlockModel.versionOf(b, all, off), n + " (seed " + seed + ")");
            }
        }
    }

    /** Keeps DEPTH writes in flight, flushing between batches, until the connection ends. */
    private static Throwable load(int port, String export, BlockModel m, AtomicLong versions, int from, int to,
            long seed) {
        Random r = new Random(seed);
        try (NbdTestClient c = NbdTestClient.connect(new InetSocketAddress("127.0.0.1", port), export)) {
            Map<Long, long[]> inFlight = new HashMap<>();
            while (true) {
                List<Integer> used = new ArrayList<>();
                for (int i = 0; i < DEPTH; i++) {
                    int b;
                    do {
                        b = from + r.nextInt(to - from);
                    } while (used.contains(b)); // one write per block in flight: ordering stays known
                    used.add(b);
                    long v = versions.incrementAndGet();
                    m.sending(b, v);
                    long cookie = c.send(NbdProtocol.CMD_WRITE, 0, (long) b << 16, BlockModel.BLOCK, BlockModel.content(b, v));
                    inFlight.put(cookie, new long[] {b, v});
                }
                while (!inFlight.isEmpty()) {
                    NbdTestClient.Reply reply = c.receive();
                    long[] w = inFlight.remove(reply.cookie());
                    if (reply.errno() != 0) {
                        return new NbdTestClient.NbdReplyException(reply.errno(), "write failed");
                    }
                    m.acked((int) w[0], w[1]);
                }
                c.flush();
                m.flushed(from, to);
            }
        } catch (IOException | RuntimeException e) {
            return e;
        }
    }
}
