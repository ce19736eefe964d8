package io.qjournal.qcow2.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Growing an image (which relocates a full L1 table for small clusters) gives the same disk as
 * qemu-img resize + qemu-io, and stays clean.
 */
class ResizeIT {
    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Qemu.assumeAvailable();
    }

    @ParameterizedTest(name = "{0}: {1} -> {2}")
    @CsvSource({"cluster_size=4096, 3145728, 3221225472", "cluster_size=512, 1048576, 536870912",
        "cluster_size=65536, 10485760, 1099511627776", "compat=0.10, 10485760, 21474836480",
        "extended_l2=on, 10485760, 2199023255552"})
    void growLikeQemu(String opts, long from, long to) throws Exception {
        Path theirs = dir.resolve("qemu.qcow2");
        Path ours = dir.resolve("ours.qcow2");
        QemuImages.create(theirs, opts, from);
        Qemu.io(theirs, "write -P 0x21 0 65536", "write -P 0x22 " + (from - 4096) + " 4096");
        Files.copy(theirs, ours);

        Qemu.img("resize", "-f", "qcow2", theirs.toString(), Long.toString(to));
        Qemu.io(theirs, "write -P 0x23 " + (to - 8192) + " 8192", "write -P 0x24 " + (from - 100) + " 200");

        try (Qcow2Image img = Qcow2Image.open(ours, OpenOptions.readWrite())) {
            img.resize(to);
            assertEquals(to, img.size());
            write(img, 0x23, to - 8192, 8192);
            write(img, 0x24, from - 100, 200);
        }
        Qemu.checkClean(ours);
        assertEquals(to, Qemu.num(Qemu.info(ours).get("virtual-size")), "virtual-size after our resize");
        Qemu.Result cmp = Qemu.imgResult("compare", "-f", "qcow2", "-F", "qcow2", theirs.toString(), ours.toString());
        if (cmp.exit() != 0) {
            fail(opts + " " + from + " -> " + to + ": qemu-img compare: " + cmp.all().strip());
        }
    }

    private static void write(Qcow2Image img, int pattern, long off, int len) throws Exception {
        byte[] b = new byte[len];
        Arrays.fill(b, (byte) pattern);
        img.write(off, b, 0, len);
    }
}
