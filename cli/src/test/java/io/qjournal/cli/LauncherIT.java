package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The launcher itself: any cwd, symlinks, one-line errors, version, bench. */
class LauncherIT {
    @TempDir
    Path dir;

    @Test
    void worksThroughASymlinkFromAnotherDirectory() throws Exception {
        Path link = dir.resolve("qj");
        Files.createSymbolicLink(link, Launcher.path());
        QemuTools.Result r = QemuTools.run(dir, link.toString(), "--version");
        assertEquals(0, r.exitCode(), r.stderr());
        assertTrue(r.stdout().startsWith("qjournal version "), r.stdout());
    }

    @Test
    void saysHowToBuildWhenTheJarsAreMissing() throws Exception {
        Path bin = Files.createDirectories(dir.resolve("checkout/bin"));
        Files.copy(Launcher.path(), bin.resolve("qjournal"));
        QemuTools.Result r = QemuTools.run(dir, bin.resolve("qjournal").toString(), "--version");
        assertEquals(1, r.exitCode());
        assertEquals(1, r.stderr().lines().count(), r.stderr());
        assertTrue(r.stderr().contains("mvn -B package -DskipTests"), r.stderr());
    }

    @Test
    void badFlagsGiveOneLineAndExitOne() {
        String[][] cases = {
            {"check", "--frobnicate", "x.qcow2"},
            {"info", "-Q", "x.qcow2"},
            {"map", "--output=yaml", "x.qcow2"},
            {"convert", "-O", "vmdk", "a", "b"},
            {"bench", "-d", "zero", "x.qcow2"},
            {"io", "--no-such", "x.qcow2"},
            {"create", "-o", "cluster_size=7", "x.qcow2", "1M"},
            {"nosuchcommand"},
            {"info", "/nonexistent/dir/x.qcow2"},
        };
        for (String[] c : cases) {
            QemuTools.Result r = Launcher.run(dir, c);
            String what = String.join(" ", c);
            assertEquals(1, r.exitCode(), what + ": " + r.stderr());
            assertEquals(1, r.stderr().lines().count(), what + ": " + r.stderr());
            assertTrue(r.stderr().startsWith("qjournal: "), what + ": " + r.stderr());
            assertTrue(!r.stderr().contains("Exception"), what + ": " + r.stderr());
        }
    }

    @Test
    void benchPrintsQemuImgHeaderAndWritesThePattern() {
        QemuTools.assumeAvailable("qemu-io");
        Launcher.tool(dir, "qemu-img", "create", "-f", "qcow2", "b.qcow2", "1M");
        String[] args = {"-w", "-c", "300", "-d", "8", "-s", "4k", "--pattern=0x5a", "--flush-interval=50", "b.qcow2"};
        QemuTools.Result ref = Launcher.tool(dir, concat("qemu-img", "bench", args));
        QemuTools.Result ours = Launcher.ok(dir, concat(null, "bench", args));
        String[] r = ref.stdout().split("\n");
        String[] o = ours.stdout().split("\n");
        assertEquals(r.length, o.length, ours.stdout());
        for (int i = 0; i < r.length - 1; i++) {
            assertEquals(r[i], o[i]);
        }
        assertTrue(o[o.length - 1].matches("Run completed in \\d+\\.\\d{3} seconds\\."), o[o.length - 1]);
        // 300 requests wrap around the 256 clusters of 4 KiB: the whole image holds the pattern.
        Launcher.tool(dir, "qemu-io", "-c", "read -P 0x5a 0 1M", "b.qcow2");
        assertEquals(0, QemuTools.run(dir, "qemu-img", "check", "b.qcow2").exitCode());
        QemuTools.Result read = Launcher.ok(dir, "bench", "-c", "1000", "-d", "4", "b.qcow2");
        assertTrue(read.stdout().startsWith("Sending 1000 read requests, 4096 bytes each, 4 in parallel (starting at offset 0, step size 4096)"));
    }

    private static String[] concat(String first, String cmd, String[] args) {
        int off = first == null ? 0 : 1;
        String[] r = new String[args.length + 1 + off];
        if (first != null) {
            r[0] = first;
        }
        r[off] = cmd;
        System.arraycopy(args, 0, r, off + 1, args.length);
        return r;
    }
}
