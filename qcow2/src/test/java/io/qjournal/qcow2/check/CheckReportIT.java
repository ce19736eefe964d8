package io.qjournal.qcow2.check;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Our reports must be byte-for-byte what qemu-img check prints on stdout. */
class CheckReportIT {
    @TempDir
    Path dir;

    private void assertSameOutput(Path img, RepairMode mode) throws IOException {
        String r = mode == RepairMode.ALL ? "all" : "leaks";
        for (boolean json : new boolean[] {false, true}) {
            Path theirs = dir.resolve("q-" + json + "-" + mode + "-" + img.getFileName());
            Path mine = dir.resolve("o-" + json + "-" + mode + "-" + img.getFileName());
            Files.copy(img, theirs, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.copy(img, mine, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            QemuTools.Result q = mode == RepairMode.NONE
                    ? QemuTools.qemuImg("check", "--output=" + (json ? "json" : "human"), theirs.toString())
                    : QemuTools.qemuImg("check", "-r", r, "--output=" + (json ? "json" : "human"), theirs.toString());
            CheckResult res;
            try (FileStorage s = FileStorage.open(mine, mode != RepairMode.NONE)) {
                res = ImageChecker.check(s, mode);
            }
            String ours = json ? CheckReport.json(res, "qcow2") : CheckReport.human(res);
            String expected = q.stdout().replace(theirs.toString(), mine.toString())
                    .replace(CheckReport.quote(theirs.toString()), CheckReport.quote(mine.toString()));
            assertEquals(expected, ours, img.getFileName() + " " + mode + " json=" + json + "\n" + q.stderr());
            assertEquals(q.exitCode(), res.exitCode());
        }
    }

    @Test
    void reportsMatchQemuImg() throws IOException {
        QemuTools.assumeAvailable("qemu-io");
        Path clean = dir.resolve("clean.qcow2");
        QemuTools.qemuImg("create", "-f", "qcow2", clean.toString(), "16M").requireSuccess();
        assertSameOutput(clean, RepairMode.NONE);
        QemuTools.qemuIo("-c", "write 0 300k", "-c", "write 5M 64k", clean.toString()).requireSuccess();
        assertSameOutput(clean, RepairMode.NONE);

        Path raw = dir.resolve("c.raw");
        QemuTools.qemuImg("create", "-f", "raw", raw.toString(), "4M").requireSuccess();
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 1 0 1M", raw.toString()).requireSuccess();
        Path comp = dir.resolve("comp.qcow2");
        QemuTools.qemuImg("convert", "-c", "-O", "qcow2", raw.toString(), comp.toString()).requireSuccess();
        assertSameOutput(comp, RepairMode.NONE);

        Path bad = dir.resolve("bad \"name\".qcow2");
        Files.copy(clean, bad);
        try (FileStorage s = FileStorage.open(bad, true)) {
            ImagePatcher p = new ImagePatcher(s);
            long data = p.l2Entry(0, 0) & 0x00ff_ffff_ffff_fe00L;
            p.setRefcount(data >>> p.clusterBits(), 2);
            p.setRefcount(p.appendCluster(), 1);
            p.setL2Entry(0, 2, p.l2Entry(0, 2) & ~(1L << 63));
        }
        assertSameOutput(bad, RepairMode.NONE);
        assertSameOutput(bad, RepairMode.LEAKS);
        assertSameOutput(bad, RepairMode.ALL);
    }
}
