package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** io prints what qemu-io prints for the same commands (timing figures aside). */
class IoIT {
    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        QemuTools.assumeAvailable("qemu-io");
    }

    /** Masks the timing part of qemu-io's second report line. */
    static String mask(String out) {
        return out.replaceAll("(?m)^(.*ops); .*$", "$1; T");
    }

    private void sameAsQemuIo(String kind, String... cmds) throws Exception {
        String img = ImageKinds.build(dir, kind);
        Files.copy(dir.resolve(img), dir.resolve("ours.qcow2"), StandardCopyOption.REPLACE_EXISTING);
        List<String> q = new ArrayList<>(List.of("qemu-io"));
        List<String> o = new ArrayList<>(List.of("io"));
        for (String c : cmds) {
            q.add("-c");
            q.add(c);
            o.add("-c");
            o.add(c);
        }
        q.add(img);
        o.add("ours.qcow2");
        QemuTools.Result ref = QemuTools.run(dir, q.toArray(new String[0]));
        QemuTools.Result ours = Launcher.run(dir, o.toArray(new String[0]));
        assertEquals(mask(ref.stdout()), mask(ours.stdout()), String.join(" | ", cmds) + "\nstderr: " + ours.stderr());
        assertEquals(ref.exitCode() != 0, ours.exitCode() != 0, "exit status: qemu-io " + ref.exitCode() + ", ours " + ours.exitCode());
        // Both images must now hold the same guest data.
        Launcher.tool(dir, "qemu-img", "compare", img, "ours.qcow2");
    }

    @Test
    void readsWritesAndVerifies() throws Exception {
        sameAsQemuIo("c64k", "write -P 0xab 0 64k", "read -P 0xab 0 64k", "write 1M 512", "read -P 0xcd 1M 512",
                "write -z 2M 128k", "read -P 0 2M 128k", "read -q 0 4k", "write -q -P 7 4k 4k", "read -P 7 4k 4k");
    }

    @Test
    void patternMismatchIsReportedAndFails() throws Exception {
        sameAsQemuIo("c64k", "read -P 0x11 0 64k", "read -P 0x99 0 64k", "read -P 0x11 0 512");
    }

    @Test
    void hexDumpAndNumberForms() throws Exception {
        sameAsQemuIo("c512", "read -v 0 40", "read 0x1000 1k", "read 0 1b", "write -P 0x44 0x2000 0x200",
                "read -v 0x2000 20");
    }

    @Test
    void parseErrorsAndRangeErrors() throws Exception {
        sameAsQemuIo("c64k", "read 0 1x", "read 64M 512", "write 0 4k");
    }

    @Test
    void compressedWrites() throws Exception {
        sameAsQemuIo("c64k", "write -c -P 0x12 4M 128k", "write -c 64k 1k", "read -P 0x12 4M 128k", "map");
    }

    @Test
    void discardFlushAndMap() throws Exception {
        sameAsQemuIo("c64k", "discard 0 64k", "flush", "map", "discard 32M 2M", "map");
    }

    @Test
    void mapOnBackingChain() throws Exception {
        sameAsQemuIo("backing-chain", "map");
    }

    @Test
    void readOnlyRefusesWrites() throws Exception {
        String img = ImageKinds.build(dir, "c64k");
        QemuTools.Result r = Launcher.run(dir, "io", "-r", "-c", "write 0 512", "-c", "read -P 0x11 0 512", img);
        assertNotEquals(0, r.exitCode());
        assertEquals("write failed: Block node is read-only", r.stdout().lines().findFirst().orElse(""));
    }

    @Test
    void journalOptionIsAccepted() {
        String img = ImageKinds.build(dir, "c64k");
        Launcher.ok(dir, "io", "--journal=size=8M,block-size=4k,commit-interval=5s,commit-datasize=1M",
                "-c", "read -P 0x11 0 4k", img);
        QemuTools.Result bad = Launcher.run(dir, "io", "--journal=colour=blue", "-c", "flush", img);
        assertEquals(1, bad.exitCode());
        assertEquals(1, bad.stderr().lines().count(), bad.stderr());
    }
}
