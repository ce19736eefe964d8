package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Our convert must produce the guest bytes qemu-img convert produces, and images QEMU accepts. */
class ConvertIT {
    static final java.util.List<String> KINDS = ImageKinds.ALL;

    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        QemuTools.assumeAvailable("qemu-io");
    }

    @ParameterizedTest
    @FieldSource("KINDS")
    void rawOutputIsByteIdenticalToQemuImg(String kind) throws IOException {
        String img = ImageKinds.build(dir, kind);
        Launcher.tool(dir, "qemu-img", "convert", "-O", "raw", img, "ref.raw");
        Launcher.ok(dir, "convert", "-O", "raw", img, "ours.raw");
        assertEquals(Files.size(dir.resolve("ref.raw")), Files.size(dir.resolve("ours.raw")), kind);
        assertEquals(-1, Files.mismatch(dir.resolve("ref.raw"), dir.resolve("ours.raw")), kind + ": first differing byte");
    }

    @ParameterizedTest
    @ValueSource(strings = {"c64k", "backing-chain", "snapshots", "extl2"})
    void qcow2OutputMatchesSourceAndChecksClean(String kind) {
        String img = ImageKinds.build(dir, kind);
        Launcher.ok(dir, "convert", "-O", "qcow2", img, "out.qcow2");
        Launcher.tool(dir, "qemu-img", "compare", img, "out.qcow2");
        assertEquals(0, QemuTools.run(dir, "qemu-img", "check", "out.qcow2").exitCode());
        Launcher.ok(dir, "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd,cluster_size=4k", img, "outc.qcow2");
        Launcher.tool(dir, "qemu-img", "compare", img, "outc.qcow2");
        QemuTools.Result check = QemuTools.run(dir, "qemu-img", "check", "--output=json", "outc.qcow2");
        assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
        assertTrue(check.stdout().contains("\"compressed-clusters\""), "no compressed clusters written: " + check.stdout());
    }

    @ParameterizedTest
    @ValueSource(strings = {"c64k", "zlib"})
    void compactsAgainstARoundTripThroughRaw(String kind) throws IOException {
        String img = ImageKinds.build(dir, kind);
        Launcher.tool(dir, "qemu-img", "convert", "-O", "raw", img, "flat.raw");
        Launcher.ok(dir, "convert", "-f", "raw", "-O", "qcow2", "flat.raw", "back.qcow2");
        Launcher.tool(dir, "qemu-img", "compare", "-f", "raw", "-F", "qcow2", "flat.raw", "back.qcow2");
        assertEquals(0, QemuTools.run(dir, "qemu-img", "check", "back.qcow2").exitCode());
        // Zero ranges must not be copied: the result is far smaller than the 64 MiB raw file.
        assertTrue(Files.size(dir.resolve("back.qcow2")) < 16L << 20, "not compacted: " + Files.size(dir.resolve("back.qcow2")));
    }
}
