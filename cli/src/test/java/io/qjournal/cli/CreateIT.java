package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Images made by our create open in QEMU, check clean and carry the requested options. */
class CreateIT {
    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        QemuTools.assumeAvailable("qemu-io");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "cluster_size=512", "cluster_size=2M", "cluster_size=4k,preallocation=metadata",
        "compat=0.10", "refcount_bits=1", "refcount_bits=64,lazy_refcounts=on", "extended_l2=on",
        "compression_type=zstd"})
    void sameFormattingLineAndQemuAccepts(String opts) {
        String[] extra = opts.isEmpty() ? new String[0] : new String[] {"-o", opts};
        QemuTools.Result ref = Launcher.tool(dir, concat(new String[] {"qemu-img", "create", "-f", "qcow2"}, extra, "ref.qcow2", "100M"));
        QemuTools.Result ours = Launcher.ok(dir, concat(new String[] {"create", "-f", "qcow2"}, extra, "ours.qcow2", "100M"));
        assertEquals(ref.stdout().replace("ref.qcow2", "X"), ours.stdout().replace("ours.qcow2", "X"));
        QemuTools.Result check = QemuTools.run(dir, "qemu-img", "check", "ours.qcow2");
        assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
        Map<?, ?> ri = (Map<?, ?>) MiniJson.parse(Launcher.tool(dir, "qemu-img", "info", "--output=json", "ref.qcow2").stdout());
        Map<?, ?> oi = (Map<?, ?>) MiniJson.parse(Launcher.tool(dir, "qemu-img", "info", "--output=json", "ours.qcow2").stdout());
        assertEquals(ri.get("virtual-size"), oi.get("virtual-size"));
        assertEquals(ri.get("cluster-size"), oi.get("cluster-size"));
        assertEquals(ri.get("format-specific"), oi.get("format-specific"));
        Launcher.tool(dir, "qemu-io", "-c", "write -P 0x42 0 128k", "-c", "read -P 0x42 0 128k", "ours.qcow2");
        assertEquals(0, QemuTools.run(dir, "qemu-img", "check", "ours.qcow2").exitCode());
    }

    @Test
    void backingFileSizeIsInherited() {
        Launcher.tool(dir, "qemu-img", "create", "-f", "raw", "base.raw", "12M");
        Launcher.ok(dir, "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "top.qcow2");
        Map<?, ?> info = (Map<?, ?>) MiniJson.parse(Launcher.tool(dir, "qemu-img", "info", "--output=json", "top.qcow2").stdout());
        assertEquals(12L << 20, info.get("virtual-size"));
        assertEquals("base.raw", info.get("backing-filename"));
        assertEquals("raw", info.get("backing-filename-format"));
        QemuTools.Result noFormat = Launcher.run(dir, "create", "-f", "qcow2", "-b", "base.raw", "t2.qcow2");
        assertEquals(1, noFormat.exitCode());
        assertEquals(1, noFormat.stderr().lines().count());
    }

    @Test
    void rawCreate() throws Exception {
        Launcher.ok(dir, "create", "-f", "raw", "r.raw", "3M");
        assertEquals(3L << 20, java.nio.file.Files.size(dir.resolve("r.raw")));
    }

    private static String[] concat(String[] a, String[] b, String... c) {
        String[] r = new String[a.length + b.length + c.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        System.arraycopy(c, 0, r, a.length + b.length, c.length);
        return r;
    }
}
