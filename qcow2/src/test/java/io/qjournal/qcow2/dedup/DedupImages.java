package io.qjournal.qcow2.dedup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/** Images made with qemu-img/qemu-io for the dedup tests, and the checks every test repeats. */
final class DedupImages {
    private DedupImages() {
    }

    /** qemu-img create -f qcow2 with options ("" for none). */
    static void create(Path img, String options, long size) {
        List<String> cmd = new ArrayList<>(List.of("create", "-q", "-f", "qcow2"));
        if (!options.isEmpty()) {
            cmd.add("-o");
            cmd.add(options);
        }
        cmd.add(img.toString());
        cmd.add(Long.toString(size));
        QemuTools.qemuImg(cmd.toArray(String[]::new)).requireSuccess();
    }

    /** qemu-io -c CMD... on the image (writes through QEMU). */
    static void qemuIo(Path img, String... commands) {
        List<String> cmd = new ArrayList<>(List.of("-f", "qcow2"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(img.toString());
        QemuTools.Result r = QemuTools.qemuIo(cmd.toArray(String[]::new)).requireSuccess();
        assertTrue(!r.stdout().contains("Pattern verification failed") && !r.stdout().contains("failed"),
                "qemu-io: " + r.stdout());
    }

    static long actualSize(Path img) {
        return QemuTools.qemuImgJson("info", "-f", "qcow2", img.toString()).number("actual-size");
    }

    /** Both checkers clean (qemu-img check and ours). */
    static void assertClean(Path img, String what) throws IOException {
        QemuTools.Result q = QemuTools.qemuImg("check", "-f", "qcow2", img.toString());
        assertEquals(0, q.exitCode(), what + ": qemu-img check: " + q.stdout() + q.stderr());
        try (FileStorage s = FileStorage.open(img, false)) {
            CheckResult r = ImageChecker.check(s, RepairMode.NONE);
            assertTrue(r.isClean(), what + ": our check: " + r);
        }
    }

    /** qemu-img compare: same guest contents (the backing chains included). */
    static void assertSameContents(Path expected, Path actual, String what) {
        QemuTools.Result r = QemuTools.qemuImg("compare", "-f", "qcow2", "-F", "qcow2", expected.toString(),
                actual.toString());
        assertEquals(0, r.exitCode(), what + ": qemu-img compare: " + r.stdout() + r.stderr());
    }

    /** The journal area {offset, size} the header names, or null. */
    static long[] journalArea(FileStorage s) throws IOException {
        byte[] first = new byte[(int) Math.min(s.size(), Header.V3_LENGTH_WITH_COMPRESSION)];
        s.read(0, first, 0, first.length);
        int cs = HeaderCodec.peekClusterSize(first, s.name());
        byte[] cluster = new byte[(int) Math.min(s.size(), cs)];
        s.read(0, cluster, 0, cluster.length);
        HeaderExtension e = HeaderCodec.decode(cluster, s.size(), s.name()).extension(HeaderExtension.JOURNAL);
        if (e == null || e.data().length < 16) {
            return null;
        }
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(e.data());
        return new long[] {b.getLong(0), b.getLong(8)};
    }

    static String sha256(Path file) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(file)) {
            byte[] b = new byte[1 << 16];
            for (int n; (n = in.read(b)) > 0;) {
                md.update(b, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
