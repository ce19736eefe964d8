package io.qjournal.qcow2.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.SnapshotInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Images made by qemu-img/qemu-io read identically through our engine and through
 * qemu-img convert -O raw; for single-layer images blockStatus agrees with qemu-img map.
 */
class ReadCompatIT {
    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Qemu.assumeAvailable();
    }

    /** name, qemu-img create -o options, cluster size, extended L2. */
    static Stream<Arguments> created() {
        List<Arguments> l = new ArrayList<>();
        for (int cs = 512; cs <= 2 << 20; cs *= 2) {
            l.add(Arguments.of("cluster_size=" + cs, "cluster_size=" + cs, cs, false));
        }
        for (int bits = 1; bits <= 64; bits *= 2) {
            l.add(Arguments.of("refcount_bits=" + bits, "cluster_size=4096,refcount_bits=" + bits, 4096, false));
        }
        l.add(Arguments.of("compat=0.10", "compat=0.10", 65536, false));
        l.add(Arguments.of("compat=0.10 4k", "compat=0.10,cluster_size=4096", 4096, false));
        l.add(Arguments.of("compat=1.1", "compat=1.1", 65536, false));
        l.add(Arguments.of("lazy_refcounts=on", "compat=1.1,lazy_refcounts=on,cluster_size=4096", 4096, false));
        l.add(Arguments.of("preallocation=metadata", "preallocation=metadata,cluster_size=4096", 4096, false));
        l.add(Arguments.of("preallocation=falloc", "preallocation=falloc,cluster_size=4096", 4096, false));
        l.add(Arguments.of("preallocation=full", "preallocation=full,cluster_size=4096", 4096, false));
        l.add(Arguments.of("extended_l2=on 64k", "extended_l2=on", 65536, true));
        l.add(Arguments.of("extended_l2=on 16k", "extended_l2=on,cluster_size=16384", 16384, true));
        l.add(Arguments.of("extended_l2=on 2M", "extended_l2=on,cluster_size=2097152", 2 << 20, true));
        l.add(Arguments.of("compression_type=zstd (uncompressed writes)", "compression_type=zstd", 65536, false));
        return l.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("created")
    void qemuCreatedImageReadsTheSame(String name, String opts, int cs, boolean ext) throws Exception {
        long size = QemuImages.sizeFor(cs, ext);
        Path img = QemuImages.createFilled(dir, "img.qcow2", opts, cs, size, ext);
        assertReadsLikeQemu(name, img, true);
    }

    @Test
    void lazyRefcountsLeftDirtyByACrash() throws Exception {
        Path img = dir.resolve("dirty.qcow2");
        QemuImages.create(img, "compat=1.1,lazy_refcounts=on,cluster_size=4096", 8 << 20);
        List<String> cmd = new ArrayList<>(List.of("sh", "-c", "ulimit -c 0; exec qemu-io -f qcow2 \"$@\"", "qemu-io"));
        for (String c : QemuImages.patternCommands(4096, 8 << 20, false, 3)) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add("-c");
        cmd.add("abort");
        cmd.add(img.toString());
        Qemu.run(cmd, 120);
        byte[] header = Files.readAllBytes(img);
        long incompatible = java.nio.ByteBuffer.wrap(header).getLong(72);
        assertEquals(1L, incompatible & 1L, "qemu-io abort should leave the dirty bit set");
        assertReadsLikeQemu("lazy refcounts, dirty", img, true);
    }

    @ParameterizedTest(name = "compressed {0}")
    @MethodSource("compressedCases")
    void compressedImageReadsTheSame(String name, int cs, String type) throws Exception {
        Path src = dir.resolve("src.raw");
        long size = Math.max(4L << 20, 12L * cs);
        writeMixedRaw(src, size, cs, 42);
        Path img = dir.resolve("c.qcow2");
        List<String> args = new ArrayList<>(List.of("convert", "-c", "-f", "raw", "-O", "qcow2", "-o",
                "cluster_size=" + cs + (type.equals("zstd") ? ",compression_type=zstd" : "")));
        args.add(src.toString());
        args.add(img.toString());
        Qemu.img(args.toArray(String[]::new));
        assertReadsLikeQemu(name, img, true);
        try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readOnly())) {
            DiskCompare.assertWholeDiskSame(name + " vs source", q, src);
        }
    }

    static Stream<Arguments> compressedCases() {
        return Stream.of(Arguments.of("zlib 64k", 65536, "zlib"), Arguments.of("zlib 4k", 4096, "zlib"),
                Arguments.of("zlib 512", 512, "zlib"), Arguments.of("zlib 2M", 2 << 20, "zlib"),
                Arguments.of("zstd 64k", 65536, "zstd"), Arguments.of("zstd 4k", 4096, "zstd"),
                Arguments.of("zstd 2M", 2 << 20, "zstd"));
    }

    /** Incompressible, compressible and zero clusters, plus unaligned runs of each. */
    static void writeMixedRaw(Path raw, long size, int cs, long seed) throws Exception {
        Random r = new Random(seed);
        byte[] disk = new byte[(int) size];
        for (long off = 0; off < size; off += cs) {
            int kind = r.nextInt(4);
            int n = (int) Math.min(cs, size - off);
            if (kind == 0) {
                byte[] b = new byte[n];
                r.nextBytes(b);
                System.arraycopy(b, 0, disk, (int) off, n);
            } else if (kind == 1) {
                for (int i = 0; i < n; i++) {
                    disk[(int) off + i] = (byte) ((i / 7) ^ (off >>> 9));
                }
            } else if (kind == 2 && n > 100) {
                disk[(int) off + r.nextInt(n)] = (byte) (1 + r.nextInt(255));
            }
        }
        Files.write(raw, disk);
    }

    @Test
    void threeLevelBackingChainWithRawBase() throws Exception {
        long size = 6L << 20;
        Path base = dir.resolve("base.raw");
        Qemu.img("create", "-q", "-f", "raw", base.toString(), Long.toString(size));
        Qemu.io(base, "raw", QemuImages.patternCommands(4096, size, false, 1));
        Path mid = dir.resolve("mid.qcow2");
        Qemu.img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw",
                mid.toString(), Long.toString(size));
        Qemu.io(mid, "write -P 0x91 8192 70000", "write -z 200000 9000", "discard 0 4096", "write -P 0x92 2097000 5000");
        Path top = dir.resolve("top.qcow2");
        Qemu.img("create", "-q", "-f", "qcow2", "-o", "cluster_size=65536", "-b", "mid.qcow2", "-F", "qcow2",
                top.toString(), Long.toString(size));
        Qemu.io(top, "write -P 0xa1 100 300", "write -z 65536 65536", "write -P 0xa2 3000000 131072",
                "discard 196608 65536");
        assertReadsLikeQemu("backing chain", top, false);
        try (Qcow2Image q = Qcow2Image.open(top, OpenOptions.readOnly())) {
            DiskCompare.assertTopLayerAllocationMatchesMap("backing chain top", q, DiskCompare.map(top));
        }
    }

    @Test
    void backingFilesOfOtherSizes() throws Exception {
        // shorter raw base ending inside a cluster: the rest of the top reads as zeros
        Path shortBase = dir.resolve("short.raw");
        Files.write(shortBase, new byte[0]);
        Qemu.img("resize", "-q", "-f", "raw", shortBase.toString(), Long.toString((1 << 20) + 1000));
        Qemu.io(shortBase, "raw", List.of("write -P 0x51 0 " + ((1 << 20) + 1000)));
        Path top = dir.resolve("over-short.qcow2");
        Qemu.img("create", "-q", "-f", "qcow2", "-b", "short.raw", "-F", "raw", top.toString(), "4M");
        Qemu.io(top, "write -P 0x52 1048000 100", "write -P 0x53 2097152 512");
        assertReadsLikeQemu("top over a shorter, unaligned raw base", top, false);
        // longer qcow2 base: only the top's size is visible
        Path longBase = QemuImages.createFilled(dir, "long.qcow2", "cluster_size=4096", 4096, 8L << 20, false);
        Path small = dir.resolve("over-long.qcow2");
        Qemu.img("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "long.qcow2", "-F", "qcow2",
                small.toString(), "3M");
        Qemu.io(small, "write -P 0x54 4000 200");
        assertReadsLikeQemu("top over a longer qcow2 base", small, false);
    }

    @Test
    void internalSnapshots() throws Exception {
        long size = 8L << 20;
        Path img = QemuImages.createFilled(dir, "snap.qcow2", "cluster_size=4096", 4096, size, false);
        Qemu.img("snapshot", "-c", "s1", img.toString());
        Qemu.io(img, "qcow2", QemuImages.patternCommands(4096, size, false, 5));
        Qemu.img("snapshot", "-c", "second", img.toString());
        Qemu.io(img, "write -P 0xee 0 10000", "discard 40960 40960", "write -z 81920 12288");
        assertReadsLikeQemu("snapshots", img, true);
        List<Map<String, Object>> theirs = snapshotList(Qemu.info(img));
        try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readOnly())) {
            List<SnapshotInfo> ours = q.snapshots();
            assertEquals(theirs.size(), ours.size(), "snapshot count");
            for (int i = 0; i < ours.size(); i++) {
                Map<String, Object> t = theirs.get(i);
                SnapshotInfo s = ours.get(i);
                assertEquals(t.get("id"), s.id(), "snapshot id");
                assertEquals(t.get("name"), s.name(), "snapshot name");
                assertEquals(Qemu.num(t.get("vm-state-size")), s.vmStateSize(), "vm-state-size");
                assertEquals(Qemu.num(t.get("date-sec")), s.dateSec(), "date-sec");
                assertEquals(Qemu.num(t.get("date-nsec")), s.dateNsec(), "date-nsec");
                assertEquals(Qemu.num(t.get("vm-clock-nsec")), s.vmClockNsec(), "vm-clock-nsec");
            }
        }
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> snapshotList(Map<String, Object> info) {
        Object o = info.get("snapshots");
        return o == null ? List.of() : (List<Map<String, Object>>) o;
    }

    @Test
    void persistentBitmap() throws Exception {
        long size = 8L << 20;
        Path img = dir.resolve("bitmap.qcow2");
        QemuImages.create(img, "cluster_size=65536", size);
        Qemu.img("bitmap", "--add", img.toString(), "b0");
        Qemu.io(img, "qcow2", QemuImages.patternCommands(65536, size, false, 7));
        Qemu.img("bitmap", "--add", "-g", "131072", img.toString(), "b1");
        assertReadsLikeQemu("bitmaps", img, true);
    }

    @Test
    void discardedRanges() throws Exception {
        long size = 8L << 20;
        Path img = QemuImages.createFilled(dir, "d.qcow2", "cluster_size=4096", 4096, size, false);
        Qemu.io(img, "write -P 0x3c 0 2M", "discard 4096 8192", "discard 100000 300000", "discard 1048576 1048576",
                "write -P 0x3d 1100000 5000");
        assertReadsLikeQemu("discarded", img, true);
    }

    @Test
    void sparseOneTebibyte() throws Exception {
        long size = 1L << 40;
        Path img = dir.resolve("big.qcow2");
        QemuImages.create(img, "", size);
        Qemu.io(img, "write -P 0x12 0 65536", "write -P 0x13 1000000000 100000", "write -P 0x14 549755813888 4096",
                "write -z 549755813888 512", "write -P 0x15 " + (size - 70000) + " 70000");
        Path raw = dir.resolve("big.raw");
        Qemu.toRaw(img, raw);
        List<DiskCompare.MapEntry> map = DiskCompare.map(img);
        try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readOnly())) {
            assertEquals(size, q.size());
            for (DiskCompare.MapEntry e : map) {
                if (e.present()) {
                    DiskCompare.assertSameAsRaw("1 TiB image, allocated extent " + e, q, raw, e.start(), e.length());
                }
            }
            Random r = new Random(1);
            for (int i = 0; i < 64; i++) {
                long off = (r.nextLong() & (size - 1)) & ~511L;
                long len = Math.min(65536, size - off);
                DiskCompare.assertSameAsRaw("1 TiB image, spot check at " + off, q, raw, off, len);
            }
            // Walk block status over the first and last GiB only: unallocated runs may be
            // reported per L2 table, which over a whole TiB would dominate the test's time.
            DiskCompare.assertBlockStatusMatchesMap("1 TiB image, first GiB", q, DiskCompare.clip(map, 0, 1L << 30));
            DiskCompare.assertBlockStatusMatchesMap("1 TiB image, last GiB", q,
                    DiskCompare.clip(map, size - (1L << 30), 1L << 30));
        }
    }

    /** Whole-disk comparison with qemu-img convert; blockStatus vs map when single-layer. */
    private void assertReadsLikeQemu(String what, Path img, boolean singleLayer) throws Exception {
        Path raw = dir.resolve(img.getFileName() + ".raw");
        Qemu.toRaw(img, raw);
        try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readOnly())) {
            assertEquals(Qemu.num(Qemu.info(img).get("virtual-size")), q.size(), what + ": virtual size");
            DiskCompare.assertWholeDiskSame(what, q, raw);
            if (singleLayer) {
                DiskCompare.assertBlockStatusMatchesMap(what, q, DiskCompare.map(img));
            }
        }
        Files.deleteIfExists(raw);
    }
}
