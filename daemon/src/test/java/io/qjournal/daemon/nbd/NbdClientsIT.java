package io.qjournal.daemon.nbd;

import static org.junit.jupiter.api.Assertions.*;

import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.testsupport.QemuTools;
import io.qjournal.qcow2.testsupport.QemuTools.Result;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real NBD clients (qemu-io, qemu-img, nbdinfo, nbdcopy, fio) against an NbdServer in this JVM
 * serving real qcow2 images through the engine with live journals.
 */
class NbdClientsIT {
    static final long SIZE = 64L << 20;

    @TempDir
    Path tmp;

    private final List<Qcow2Image> images = new ArrayList<>();
    private final MemoryExports exports = new MemoryExports();
    private NbdServer server;
    private Path socket;

    @AfterEach
    void stop() throws IOException {
        if (server != null) {
            server.close();
        }
        for (Qcow2Image i : images) {
            i.close();
        }
    }

    private Path create(String name) {
        Path p = tmp.resolve(name + ".qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", p.toString(), String.valueOf(SIZE)).requireSuccess();
        return p;
    }

    private Qcow2TestExport serve(String name, Path file, boolean writable) throws IOException {
        OpenOptions o = writable ? OpenOptions.readWrite().journal(JournalOptions.defaults()) : OpenOptions.readOnly();
        Qcow2Image image = Qcow2Image.open(file, o);
        images.add(image);
        Qcow2TestExport e = new Qcow2TestExport(name, image);
        exports.add(e);
        return e;
    }

    private void startServer() throws IOException {
        socket = tmp.resolve("nbd.sock");
        server = new NbdServer(exports, NbdServer.Config.defaults(new InetSocketAddress("127.0.0.1", 0))
                .withUnixSocket(socket).withLog(l -> { }));
        server.start();
    }

    private String tcpUri(String name) {
        return "nbd://127.0.0.1:" + server.tcpAddress().getPort() + "/" + name;
    }

    private String unixUri(String name) {
        return "nbd+unix:///" + name + "?socket=" + socket;
    }

    private static Result ok(Result r) {
        r.requireSuccess();
        String all = r.stdout() + r.stderr();
        assertFalse(all.contains("failed") || all.contains("error"), all);
        return r;
    }

    /** One seeded workload as qemu-io commands: writes, write -z, discard, flush, reads checked with -P. */
    private static List<String> workload(Random rnd, int count) {
        List<String> cmds = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int kind = rnd.nextInt(10);
            if (kind < 5) {
                long len = 512L * (1 + rnd.nextInt(rnd.nextBoolean() ? 16 : 512));
                long off = 512L * rnd.nextInt((int) ((SIZE - len) / 512));
                int pattern = 1 + rnd.nextInt(254);
                cmds.add("write -P " + pattern + " " + off + " " + len);
                long rlen = 512L * (1 + rnd.nextInt((int) (len / 512)));
                long roff = off + 512L * rnd.nextInt((int) ((len - rlen) / 512 + 1));
                cmds.add("read -P " + pattern + " " + roff + " " + rlen);
            } else if (kind < 7) {
                long len = 512L * (1 + rnd.nextInt(2048));
                long off = 512L * rnd.nextInt((int) ((SIZE - len) / 512));
                cmds.add("write -z " + off + " " + len);
                cmds.add("read -P 0 " + off + " " + len);
            } else if (kind < 9) {
                long clusters = 1 + rnd.nextInt(16);
                long off = 65536L * rnd.nextInt((int) (SIZE / 65536 - clusters));
                cmds.add("discard " + off + " " + clusters * 65536);
            } else {
                cmds.add("flush");
            }
        }
        return cmds;
    }

    private static String[] qemuIo(String format, String target, List<String> cmds) {
        List<String> args = new ArrayList<>(List.of("qemu-io", "-f", format));
        for (String c : cmds) {
            args.add("-c");
            args.add(c);
        }
        args.add(target);
        return args.toArray(String[]::new);
    }

    @Test
    void qemuIoWorkloadOverTcpAndUnixMatchesALocalCopy() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        long seed = Long.getLong("nbd.it.seed", new Random().nextLong());
        Random rnd = new Random(seed);
        Path served = create("served");
        Path local = create("local");
        serve("a", served, true);
        startServer();
        try {
            List<String> first = workload(rnd, 60);
            List<String> second = workload(rnd, 60);
            ok(QemuTools.run(qemuIo("raw", tcpUri("a"), first)));
            ok(QemuTools.run(qemuIo("raw", unixUri("a"), second)));
            ok(QemuTools.run(qemuIo("qcow2", local.toString(), first)));
            ok(QemuTools.run(qemuIo("qcow2", local.toString(), second)));
            QemuTools.qemuImg("compare", "-f", "raw", "-F", "qcow2", tcpUri("a"), local.toString()).requireSuccess();
            server.close();
            server = null;
            images.remove(0).close();
            QemuTools.qemuImg("compare", "-f", "qcow2", "-F", "qcow2", served.toString(), local.toString())
                    .requireSuccess();
            QemuTools.qemuImg("check", served.toString()).requireSuccess();
        } catch (Throwable t) {
            throw new AssertionError("workload seed " + seed + " (-Dnbd.it.seed=" + seed + "): " + t.getMessage(), t);
        }
    }

    @Test
    void nbdinfoListsExportsAndMapsAllocation() throws Exception {
        QemuTools.assumeAvailable("qemu-io", "nbdinfo");
        serve("a", create("a"), true);
        serve("ro", create("ro"), false);
        startServer();
        ok(QemuTools.run("qemu-io", "-f", "raw", "-c", "write -P 7 0 1M", "-c", "write -P 8 8M 64k",
                "-c", "write -z 16M 1M", tcpUri("a")));
        Result list = QemuTools.run("nbdinfo", "--list", "--json", "nbd://127.0.0.1:" + server.tcpAddress().getPort());
        list.requireSuccess();
        String json = list.stdout().replaceAll("\\s+", "");
        assertTrue(json.contains("\"export-name\":\"a\""), json);
        assertTrue(json.contains("\"export-name\":\"ro\""), json);
        assertTrue(json.contains("\"export-size\":" + SIZE), json);
        assertTrue(json.contains("\"base:allocation\""), json);
        assertTrue(json.contains("\"is_read_only\":true"), json);

        Result map = QemuTools.run("nbdinfo", "--map", tcpUri("a"));
        map.requireSuccess();
        List<long[]> extents = new ArrayList<>();
        for (String line : map.stdout().strip().split("\n")) {
            String[] f = line.trim().split("\\s+");
            extents.add(new long[] {Long.parseLong(f[0]), Long.parseLong(f[1]), Long.parseLong(f[2])});
        }
        // data where written, hole+zero elsewhere; the write -z range reads as zero
        assertArrayEquals(new long[] {0, 1 << 20, 0}, extents.get(0), map.stdout());
        assertArrayEquals(new long[] {1 << 20, (8 << 20) - (1 << 20), 3}, extents.get(1), map.stdout());
        assertArrayEquals(new long[] {8 << 20, 65536, 0}, extents.get(2), map.stdout());
        long covered = 0;
        for (long[] e : extents) {
            assertEquals(covered, e[0], map.stdout());
            covered += e[1];
            if (e[0] >= 16 << 20 && e[0] < 17 << 20) {
                assertEquals(2, e[2] & 2, "write -z range reads as zero: " + map.stdout());
            }
        }
        assertEquals(SIZE, covered);
        Result size = QemuTools.run("nbdinfo", "--size", tcpUri("ro"));
        assertEquals(String.valueOf(SIZE), size.requireSuccess().stdout().trim());
    }

    @Test
    void nbdcopyRoundTripsAnImage() throws Exception {
        QemuTools.assumeAvailable("qemu-io", "nbdcopy");
        Qcow2TestExport a = serve("a", create("a"), true);
        serve("b", create("b"), true);
        startServer();
        Random rnd = new Random(Long.getLong("nbd.it.seed", new Random().nextLong()));
        List<String> cmds = new ArrayList<>();
        for (String c : workload(rnd, 40)) {
            if (!c.startsWith("read")) {
                cmds.add(c);
            }
        }
        ok(QemuTools.run(qemuIo("raw", tcpUri("a"), cmds)));
        Path copy = tmp.resolve("copy.raw");
        QemuTools.run("nbdcopy", tcpUri("a"), copy.toString()).requireSuccess();
        // qemu-img reads the file itself: take the export away and close the image cleanly first
        server.disconnect("a");
        exports.remove("a");
        images.remove(a.image());
        a.image().close();
        Path reference = tmp.resolve("reference.raw");
        QemuTools.qemuImg("convert", "-f", "qcow2", "-O", "raw", tmp.resolve("a.qcow2").toString(),
                reference.toString()).requireSuccess();
        QemuTools.qemuImg("compare", "-f", "raw", "-F", "raw", copy.toString(), reference.toString()).requireSuccess();
        // and back in: raw file -> export b, compared through NBD
        QemuTools.run("nbdcopy", copy.toString(), tcpUri("b")).requireSuccess();
        QemuTools.qemuImg("compare", "-f", "raw", "-F", "raw", tcpUri("b"), reference.toString()).requireSuccess();
        assertTrue(Files.size(copy) == SIZE);
    }

    @Test
    void fioRandomReadWriteAtQueueDepth32Verifies() throws Exception {
        QemuTools.assumeAvailable("fio");
        serve("a", create("a"), true);
        startServer();
        // run in the temporary directory: fio leaves verify state files in its working directory
        Result r = QemuTools.run(tmp, "fio", "--name=nbdverify", "--verify_state_save=0", "--ioengine=nbd", "--uri=" + tcpUri("a"),
                "--rw=randrw", "--bs=4k", "--iodepth=32", "--size=32m", "--verify=crc32c", "--verify_fatal=1",
                "--do_verify=1", "--randseed=" + new Random().nextInt(1 << 30));
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains("err= 0"), r.stdout());
        String all = r.stdout() + r.stderr();
        assertFalse(all.contains("verify: bad") || all.contains("verify failed") || all.contains("bad magic"), all);
    }
}
