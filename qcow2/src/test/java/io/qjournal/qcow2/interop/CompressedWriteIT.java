package io.qjournal.qcow2.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Clusters we write compressed (zlib and zstd) decompress in QEMU to the same bytes. */
class CompressedWriteIT {
    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Qemu.assumeAvailable();
    }

    @ParameterizedTest(name = "cluster {0}, compression type {1}")
    @CsvSource({"65536, 0", "4096, 0", "512, 0", "2097152, 0", "65536, 1", "4096, 1", "2097152, 1"})
    void qemuReadsOurCompressedClusters(int cs, int type) throws Throwable {
        roundTrip(cs, type);
    }

    private void roundTrip(int cs, int type) throws Exception {
        int clusters = 15;
        long size = (long) clusters * cs;
        byte[] disk = new byte[(int) size];
        Random r = new Random(cs * 31L + type);
        Path img = dir.resolve("c.qcow2");
        Qcow2Image.create(img, new CreateOptions().size(size).clusterSize(cs).compressionType(type));
        try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readWrite())) {
            for (int c = 0; c < clusters; c++) {
                byte[] cl = new byte[cs];
                switch (c % 5) {
                    case 0: for (int i = 0; i < cs; i++) { cl[i] = (byte) (i / 13 + c); } break;
                    case 1: r.nextBytes(cl); break; // incompressible
                    case 2: cl[r.nextInt(cs)] = 1; break; // almost all zeros
                    case 3: {
                        // random 6 KiB repeated: matches lie > 4 KiB back, beyond QEMU's
                        // 4 KiB deflate window (windowBits -12), so a 32 KiB-window stream breaks
                        int block = Math.min(6144, cs / 2);
                        byte[] rnd = new byte[block];
                        r.nextBytes(rnd);
                        for (int i = 0; i < cs; i++) {
                            cl[i] = rnd[i % block];
                        }
                        break;
                    }
                    default: continue; // left unallocated
                }
                q.writeCompressed((long) c * cs, cl);
                System.arraycopy(cl, 0, disk, c * cs, cs);
            }
        }
        Qemu.checkClean(img);
        Path raw = dir.resolve("c.raw");
        Qemu.toRaw(img, raw);
        assertArrayEquals(disk, Files.readAllBytes(raw), "QEMU reads different bytes from our compressed clusters");
        List<DiskCompare.MapEntry> map = DiskCompare.map(img);
        boolean sawCompressed = map.stream().anyMatch(e -> e.data() && e.offset() < 0);
        assertTrue(sawCompressed, "no cluster is stored compressed according to qemu-img map: " + map);
        // And a QEMU overwrite of a compressed cluster keeps the image consistent for both.
        Qemu.io(img, "write -P 0x3e " + (cs / 2) + " 1000");
        Qemu.checkClean(img);
        Qemu.toRaw(img, raw);
        try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readOnly())) {
            DiskCompare.assertWholeDiskSame("after a QEMU overwrite", q, raw);
        }
    }
}
