package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.daemon.nbd.NbdTestClient;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Under client load (seeded writes, flushes, some FUA), SIGKILL the daemon at random moments,
 * restart it, and check that every write acknowledged before a completed FLUSH or with FUA
 * reads back (and nothing torn or invented does); the log shows the replays; after the final
 * clean stop qemu-img check is clean.
 */
class CrashRestartIT {
    static final int CLIENTS = 3;
    // One block per 64 KiB cluster of the first 256 MiB of the image: writes keep allocating
    // clusters (and L2 tables) in every round, so a lost metadata commit shows.
    static final int BLOCKS = 4096;
    static final int ROUNDS = 10;

    @TempDir
    Path dir;

    @Test
    void acknowledgedWritesSurviveSigkill() throws Exception {
        QemuTools.assumeAvailable();
        long seed = Long.getLong("qjournal.seed", System.nanoTime());
        System.out.println("CrashRestartIT seed " + seed + " (rerun with -Dqjournal.seed=" + seed + ")");
        Random rnd = new Random(seed);
        Path img = dir.resolve("crash.qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "1G").requireSuccess();
        BlockModel model = new BlockModel(BLOCKS);
        AtomicLong versions = new AtomicLong();
        Path log = dir.resolve("qjournald.log");
        int replays = 0;
        try {
            for (int round = 0; round < ROUNDS; round++) {
                int port = DaemonProcess.freePort();
                List<String> args = List.of("--image", "crash=" + img + ",commit-interval=60s,commit-datasize=1G", "--nbd",
                        "127.0.0.1:" + port, "--jmx", "off");
                try (DaemonProcess d = DaemonProcess.start(log, Map.of(), args)) {
                    d.awaitReady();
                    if (d.output().contains("[image crash] replayed dirty journal")) {
                        replays++;
                    }
                    verifyAll(model, port, "round " + round + " (seed " + seed + ")");
                    List<Thread> clients = new ArrayList<>();
                    AtomicReference<Throwable> failure = new AtomicReference<>();
                    for (int c = 0; c < CLIENTS; c++) {
                        long clientSeed = rnd.nextLong();
                        int from = c * BLOCKS / CLIENTS;
                        int to = (c + 1) * BLOCKS / CLIENTS;
                        Thread t = new Thread(() -> load(port, model, versions, from, to, clientSeed, failure));
                        t.start();
                        clients.add(t);
                    }
                    Thread.sleep(200 + rnd.nextInt(900));
                    d.sigkill();
                    for (Thread t : clients) {
                        t.join(60_000);
                    }
                    if (failure.get() != null) {
                        throw new AssertionError("client failed before the kill (seed " + seed + ")", failure.get());
                    }
                }
            }
            int port = DaemonProcess.freePort();
            List<String> args = List.of("--image", "crash=" + img, "--nbd", "127.0.0.1:" + port, "--jmx", "off");
            try (DaemonProcess d = DaemonProcess.start(log, Map.of(), args)) {
                d.awaitReady();
                if (d.output().contains("[image crash] replayed dirty journal")) {
                    replays++;
                }
                verifyAll(model, port, "after the last crash (seed " + seed + ")");
                d.sigterm();
                assertEquals(0, d.awaitExit(120), d.output());
            }
        } catch (AssertionError | Exception e) {
            System.out.println(java.nio.file.Files.readString(log));
            throw e;
        }
        System.out.println("CrashRestartIT: " + versions.get() + " writes, " + replays + " replays in "
                + ROUNDS + " kills");
        // Almost every kill leaves committed transactions not yet written home.
        assertTrue(replays >= ROUNDS / 2, "only " + replays + " of " + ROUNDS + " restarts replayed a journal");
        QemuTools.Result check = QemuTools.qemuImg("check", img.toString());
        assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    }

    static long offset(int block) {
        return (long) block << 16;
    }

    private static void verifyAll(BlockModel model, int port, String context) throws IOException {
        try (NbdTestClient c = NbdTestClient.connect(new InetSocketAddress("127.0.0.1", port), "crash")) {
            for (int b = 0; b < model.blocks(); b++) {
                byte[] data = c.read(offset(b), BlockModel.BLOCK);
                model.verify(b, BlockModel.versionOf(b, data, 0), context);
            }
        }
    }

    /** One client: writes (10% FUA) to its own blocks, a FLUSH every few writes, until the kill. */
    private static void load(int port, BlockModel model, AtomicLong versions, int from, int to, long seed,
            AtomicReference<Throwable> failure) {
        Random r = new Random(seed);
        NbdTestClient c;
        try {
            c = NbdTestClient.connect(new InetSocketAddress("127.0.0.1", port), "crash");
        } catch (IOException e) {
            return; // killed before we connected
        }
        try (c) {
            while (true) {
                int n = 1 + r.nextInt(16);
                for (int i = 0; i < n; i++) {
                    int b = from + r.nextInt(to - from);
                    long v = versions.incrementAndGet();
                    boolean fua = r.nextInt(10) == 0;
                    model.sending(b, v);
                    c.write(offset(b), BlockModel.content(b, v), fua);
                    if (fua) {
                        model.durable(b, v);
                    }
                }
                c.flush();
                model.flushed(from, to);
            }
        } catch (NbdTestClient.NbdReplyException e) {
            failure.compareAndSet(null, e); // an error reply, not the kill
        } catch (IOException e) {
            // the daemon was killed: the connection ends
        } catch (RuntimeException | Error e) {
            failure.compareAndSet(null, e);
        }
    }
}
