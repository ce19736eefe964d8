package io.qjournal.qcow2.badinput;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qjournal.qcow2.badinput.BadImageCatalog.Case;
import io.qjournal.qcow2.badinput.BadImageCatalog.Outcome;
import io.qjournal.qcow2.interop.Qemu;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Keeps the bad-input catalog honest against QEMU itself: the hand-built base images pass
 * qemu-img check, and every row the catalog says must be accepted is accepted by QEMU with
 * the documented guest contents. Rows QEMU also refuses are listed for the record.
 */
class BadInputQemuIT {
    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Qemu.assumeAvailable();
    }

    static List<Case> cases() {
        return BadImageCatalog.all();
    }

    @Test
    void baseImagesAreCleanForQemu() throws Exception {
        BaseImage[] bases = {new BaseImage(), new BaseImage().version(2), new BaseImage().snapshot(true),
            new BaseImage().clusterBits(14).extendedL2(true)};
        int i = 0;
        for (BaseImage b : bases) {
            Path f = dir.resolve("base" + i++ + ".qcow2");
            Files.write(f, b.build());
            Qemu.checkClean(f);
            Path raw = dir.resolve(f.getFileName() + ".raw");
            Qemu.toRaw(f, raw);
            byte[] expected = b.expectedGuest();
            if (b.version == 2) {
                // v2 has no zero flag: cluster 2 is simply unallocated, which also reads as zeros.
                assertEquals(expected.length, Files.size(raw));
            }
            assertArrayEquals(expected, Files.readAllBytes(raw), "guest contents of " + f);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void qemuAcceptsWhatTheCatalogAccepts(Case c) throws Exception {
        Path f = dir.resolve("case.qcow2");
        Files.write(f, c.bytes().get());
        Path raw = dir.resolve("case.raw");
        Qemu.Result r = Qemu.imgResult("convert", "-U", "-f", "qcow2", "-O", "raw", f.toString(), raw.toString());
        System.out.printf("[qemu] %-60s ro=%-6s rw=%-6s qemu %s%n", c.name(), c.ro(), c.rw(),
                r.exit() == 0 ? "reads it" : "refuses: " + r.err().strip().replace('\n', ' '));
        if (c.ro() == Outcome.ACCEPT) {
            assertEquals(0, r.exit(), c.name() + ": QEMU refuses a case the catalog accepts: " + r.err());
            if (c.expected() != null) {
                assertArrayEquals(c.expected(), Files.readAllBytes(raw), c.name());
            }
        }
    }
}
