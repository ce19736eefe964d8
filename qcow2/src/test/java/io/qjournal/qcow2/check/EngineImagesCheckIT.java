package io.qjournal.qcow2.check;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import io.qjournal.qcow2.testsupport.QemuTools.JsonResult;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Images written by our own engine must be clean for both checkers, and the two must agree
 * on every number (a cross-check of the engine's allocation and of the checker).
 */
class EngineImagesCheckIT {
    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({
        "1, 512, 16, 1.1, false",
        "2, 4096, 1, 1.1, false",
        "3, 65536, 64, 1.1, false",
        "4, 4096, 16, 0.10, false",
        "5, 65536, 16, 1.1, true",
        "6, 2097152, 8, 1.1, false",
    })
    void engineImagesAreCleanAndJudgedAlike(long seed, int clusterSize, int refcountBits, String compat,
            boolean extendedL2) throws IOException {
        QemuTools.assumeAvailable();
        Path img = dir.resolve("engine" + seed + ".qcow2");
        long size = 64L << 20;
        CreateOptions co = new CreateOptions().size(size).clusterSize(clusterSize).refcountBits(refcountBits)
                .compat(compat);
        if (extendedL2) {
            co.extendedL2(true);
        }
        Qcow2Image.create(img, co);
        Random rnd = new Random(seed);
        try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readWrite())) {
            for (int i = 0; i < 200; i++) {
                long off = (rnd.nextLong(size) / 512) * 512;
                int len = (int) Math.min(size - off, 512L * (1 + rnd.nextInt(512)));
                switch (rnd.nextInt(6)) {
                    case 0 -> q.writeZeroes(off, len);
                    case 1 -> q.discard(off, len);
                    // compressed clusters share host clusters: impossible with 1-bit refcounts
                    case 2 -> {
                        if (!compat.equals("0.10") && !extendedL2 && refcountBits > 1) {
                            long c = (off / clusterSize) * clusterSize;
                            byte[] data = new byte[clusterSize];
                            data[rnd.nextInt(clusterSize)] = 1;
                            q.writeCompressed(c, data);
                        }
                    }
                    default -> {
                        byte[] b = new byte[len];
                        rnd.nextBytes(b);
                        q.write(off, b, 0, len);
                    }
                }
            }
            q.flush();
        }
        JsonResult theirs = QemuTools.qemuImgJson("check", "-f", "qcow2", img.toString());
        CheckResult ours;
        try (FileStorage s = FileStorage.open(img, false)) {
            ours = ImageChecker.check(s, RepairMode.NONE);
        }
        String ctx = "seed " + seed + "\nqemu: " + theirs.fields() + "\n" + theirs.result().stderr() + "\nours: " + ours;
        assertEquals(0, theirs.exitCode(), "qemu-img check on an engine image\n" + ctx);
        assertEquals(0, ours.exitCode(), "our check on an engine image\n" + ctx);
        assertEquals(theirs.number("image-end-offset"), ours.imageEndOffset(), ctx);
        assertEquals(theirs.number("allocated-clusters"), ours.allocatedClusters(), ctx);
        assertEquals(theirs.number("fragmented-clusters"), ours.fragmentedClusters(), ctx);
        assertEquals(theirs.number("compressed-clusters"), ours.compressedClusters(), ctx);
    }
}
