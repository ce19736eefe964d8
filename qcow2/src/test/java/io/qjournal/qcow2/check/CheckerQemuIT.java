package io.qjournal.qcow2.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import io.qjournal.qcow2.testsupport.QemuTools.JsonResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Compares {@link ImageChecker} with {@code qemu-img check --output=json} on real and damaged images. */
class CheckerQemuIT {
    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeAvailable("qemu-io");
    }

    private Path create(String name, String size, String... opts) {
        Path p = dir.resolve(name);
        String[] args = new String[4 + (opts.length > 0 ? 2 : 0)];
        int i = 0;
        args[i++] = "create";
        args[i++] = "-f";
        args[i++] = "qcow2";
        if (opts.length > 0) {
            args[i++] = "-o";
            args[i++] = String.join(",", opts);
        }
        args[i] = p.toString();
        String[] full = java.util.Arrays.copyOf(args, args.length + 1);
        full[args.length] = size;
        QemuTools.qemuImg(full).requireSuccess();
        return p;
    }

    private void io(Path img, String... cmds) {
        for (String c : cmds) {
            QemuTools.qemuIo("-f", "qcow2", "-c", c, img.toString()).requireSuccess();
        }
    }

    private static CheckResult ours(Path img, RepairMode mode) throws IOException {
        try (FileStorage s = FileStorage.open(img, mode != RepairMode.NONE)) {
            return ImageChecker.check(s, mode);
        }
    }

    /** Checks both ways and asserts the numbers qemu-img reports are ours. */
    private CheckResult assertSameAsQemu(Path img) throws IOException {
        JsonResult q = QemuTools.qemuImgJson("check", "-f", "qcow2", img.toString());
        CheckResult r = ours(img, RepairMode.NONE);
        String ctx = img.getFileName() + "\nqemu: " + q.fields() + "\nqemu stderr: " + q.result().stderr()
                + "\nours: " + r;
        assertEquals(q.exitCode(), r.exitCode(), "exit code\n" + ctx);
        if (q.exitCode() != 1) {
            assertEquals(q.number("check-errors"), r.checkErrors(), "check-errors\n" + ctx);
            assertEquals(q.number("corruptions"), r.corruptions(), "corruptions\n" + ctx);
            assertEquals(q.number("leaks"), r.leaks(), "leaks\n" + ctx);
            assertEquals(q.number("image-end-offset"), r.imageEndOffset(), "image-end-offset\n" + ctx);
            assertEquals(q.number("total-clusters"), r.totalClusters(), "total-clusters\n" + ctx);
            if (q.number("allocated-clusters") != 0) {
                assertEquals(q.number("allocated-clusters"), r.allocatedClusters(), "allocated\n" + ctx);
                assertEquals(q.number("fragmented-clusters"), r.fragmentedClusters(), "fragmented\n" + ctx);
                assertEquals(q.number("compressed-clusters"), r.compressedClusters(), "compressed\n" + ctx);
            } else {
                assertEquals(0, r.allocatedClusters(), "allocated\n" + ctx);
            }
        }
        return r;
    }

    private Path copy(Path img, String name) throws IOException {
        Path p = dir.resolve(name);
        Files.copy(img, p);
        return p;
    }

    /** Repairs a copy with qemu-img and another with us; both must end in the same state and qemu-img must accept ours. */
    private CheckResult assertRepairLikeQemu(Path img, RepairMode mode) throws IOException {
        String flag = mode == RepairMode.ALL ? "all" : "leaks";
        Path theirs = copy(img, img.getFileName() + ".qemu-" + flag);
        Path mine = copy(img, img.getFileName() + ".ours-" + flag);
        JsonResult q = QemuTools.qemuImgJson("check", "-f", "qcow2", "-r", flag, theirs.toString());
        CheckResult r = ours(mine, mode);
        String ctx = "qemu: " + q.fields() + "\nqemu stderr: " + q.result().stderr() + "\nours: " + r;
        assertEquals(q.exitCode(), r.exitCode(), "exit code after repair\n" + ctx);
        if (q.exitCode() != 1) {
            assertEquals(q.number("leaks-fixed"), r.leaksFixed(), "leaks-fixed\n" + ctx);
            assertEquals(q.number("corruptions-fixed"), r.corruptionsFixed(), "corruptions-fixed\n" + ctx);
            assertEquals(q.number("leaks"), r.leaks(), "leaks\n" + ctx);
            assertEquals(q.number("corruptions"), r.corruptions(), "corruptions\n" + ctx);
        }
        JsonResult after = QemuTools.qemuImgJson("check", "-f", "qcow2", mine.toString());
        JsonResult afterQemu = QemuTools.qemuImgJson("check", "-f", "qcow2", theirs.toString());
        assertEquals(afterQemu.exitCode(), after.exitCode(), "qemu-img on our repaired image\n"
                + after.result().stderr() + "\non qemu's: " + afterQemu.result().stderr());
        assertSameAsQemu(mine);
        return r;
    }

    // ---- clean images -------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(ints = {512, 4096, 65536, 2 << 20})
    void cleanImagesOfSeveralClusterSizes(int clusterSize) throws IOException {
        Path img = create("c" + clusterSize + ".qcow2", "64M", "cluster_size=" + clusterSize);
        io(img, "write -P 0x11 0 300k", "write -P 0x22 8M 64k", "write -P 0x33 20M 4M", "write -z 40M 1M");
        CheckResult r = assertSameAsQemu(img);
        assertEquals(0, r.exitCode(), r.messages().toString());
        assertTrue(r.allocatedClusters() > 0);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 8, 16, 32, 64})
    void cleanImagesOfEveryRefcountWidth(int bits) throws IOException {
        Path img = create("r" + bits + ".qcow2", "32M", "refcount_bits=" + bits, "cluster_size=4096");
        io(img, "write -P 0x5a 0 1M", "write -P 0x5b 5M 128k");
        if (bits > 1) {
            QemuTools.qemuImg("snapshot", "-c", "s1", img.toString()).requireSuccess();
            io(img, "write -P 0x5c 64k 64k");
        }
        assertEquals(0, assertSameAsQemu(img).exitCode());
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.10", "1.1"})
    void compatLevels(String compat) throws IOException {
        Path img = create("compat" + compat + ".qcow2", "16M", "compat=" + compat);
        io(img, "write -P 1 0 1M", "write -z 2M 64k");
        assertEquals(0, assertSameAsQemu(img).exitCode());
    }

    @Test
    void snapshotsAndBitmapsAndCompressedData() throws IOException {
        Path img = create("rich.qcow2", "64M");
        io(img, "write -P 7 0 2M");
        QemuTools.qemuImg("snapshot", "-c", "one", img.toString()).requireSuccess();
        io(img, "write -P 8 1M 2M");
        QemuTools.qemuImg("snapshot", "-c", "two", img.toString()).requireSuccess();
        io(img, "discard 0 64k");
        QemuTools.qemuImg("bitmap", "--add", img.toString(), "b0").requireSuccess();
        QemuTools.qemuImg("bitmap", "--add", "-g", "512k", img.toString(), "b1").requireSuccess();
        assertEquals(0, assertSameAsQemu(img).exitCode());

        Path raw = dir.resolve("src.raw");
        QemuTools.qemuImg("create", "-f", "raw", raw.toString(), "8M").requireSuccess();
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 3 0 3M", raw.toString()).requireSuccess();
        Path comp = dir.resolve("comp.qcow2");
        QemuTools.qemuImg("convert", "-c", "-O", "qcow2", raw.toString(), comp.toString()).requireSuccess();
        CheckResult r = assertSameAsQemu(comp);
        assertTrue(r.compressedClusters() > 0, r.toString());
    }

    @Test
    void extendedL2AndPreallocation() throws IOException {
        Path ext = create("ext.qcow2", "32M", "extended_l2=on", "cluster_size=128k");
        io(ext, "write -P 9 4k 8k", "write -P 9 1M 300k", "write -z 3M 32k");
        assertEquals(0, assertSameAsQemu(ext).exitCode());
        Path pre = create("pre.qcow2", "32M", "preallocation=metadata");
        assertSameAsQemu(pre);
        Path lazy = create("lazy.qcow2", "16M", "lazy_refcounts=on");
        io(lazy, "write 0 1M");
        assertSameAsQemu(lazy);
    }

    // ---- damaged images -------------------------------------------------------------------

    private Path dataImage(String name, String... opts) {
        Path img = create(name, "16M", opts);
        io(img, "write -P 0x44 0 512k", "write -P 0x45 4M 128k");
        return img;
    }

    @Test
    void leakedClusters() throws IOException {
        Path img = dataImage("leak.qcow2");
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            long data = raw.l2Entry(0, 0) & 0x00ff_ffff_ffff_fe00L;
            raw.setRefcount(data >>> raw.clusterBits(), 2);
            long extra = raw.appendCluster();
            raw.setRefcount(extra, 1);
        }
        CheckResult r = assertSameAsQemu(img);
        // The doubled refcount also makes the data cluster's COPIED flag wrong: a corruption.
        assertEquals(2, r.exitCode(), r.messages().toString());
        assertEquals(2, r.leaks());
        assertRepairLikeQemu(img, RepairMode.LEAKS);
        assertRepairLikeQemu(img, RepairMode.ALL);
    }

    /**
     * Leaks at every refcount width: the comparison takes whole refcount blocks as bytes when
     * they match, so a mismatch must still be found entry by entry when entries share a byte.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 8, 16, 32, 64})
    void leaksAtEveryRefcountWidth(int bits) throws IOException {
        Path img = dataImage("leak" + bits + ".qcow2", "refcount_bits=" + bits, "cluster_size=4096");
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            raw.setRefcount(raw.appendCluster(), 1);
        }
        CheckResult r = assertSameAsQemu(img);
        assertEquals(1, r.leaks(), r.messages().toString());
        assertRepairLikeQemu(img, RepairMode.LEAKS);
    }

    @Test
    void refcountTooLowAndZero() throws IOException {
        Path img = dataImage("low.qcow2");
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            long data = raw.l2Entry(0, 1) & 0x00ff_ffff_ffff_fe00L;
            raw.setRefcount(data >>> raw.clusterBits(), 0);
        }
        assertEquals(2, assertSameAsQemu(img).exitCode());
        assertRepairLikeQemu(img, RepairMode.LEAKS);
        assertRepairLikeQemu(img, RepairMode.ALL);

        Path snap = dataImage("low2.qcow2");
        QemuTools.qemuImg("snapshot", "-c", "s", snap.toString()).requireSuccess();
        try (FileStorage s = FileStorage.open(snap, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            long data = raw.l2Entry(0, 2) & 0x00ff_ffff_ffff_fe00L;
            raw.setRefcount(data >>> raw.clusterBits(), 1);
        }
        assertEquals(2, assertSameAsQemu(snap).exitCode());
        assertRepairLikeQemu(snap, RepairMode.ALL);
    }

    @Test
    void l2EntryPastEndOfFile() throws IOException {
        Path img = dataImage("eof.qcow2");
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            raw.setL2Entry(0, 3, (1L << 63) | (1L << 32));
        }
        assertEquals(2, assertSameAsQemu(img).exitCode());
        // QEMU 7.2 cannot repair this; we turn the entry into a zero cluster, which qemu-img accepts.
        Path mine = copy(img, "eof-ours.qcow2");
        CheckResult r = ours(mine, RepairMode.ALL);
        assertEquals(0, r.exitCode(), r.messages().toString());
        assertTrue(r.corruptionsFixed() >= 1);
        assertEquals(0, QemuTools.qemuImgJson("check", "-f", "qcow2", mine.toString()).exitCode());
        assertSameAsQemu(mine);
    }

    @Test
    void overlappingMetadata() throws IOException {
        Path img = dataImage("overlap.qcow2");
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            // Point a second L1 entry's L2 table at the refcount table.
            raw.put64(raw.l1Offset() + 8, (1L << 63) | raw.reftableOffset());
        }
        assertSameAsQemu(img);
        assertRepairLikeQemu(img, RepairMode.ALL);
    }

    @Test
    void wrongCopiedFlags() throws IOException {
        Path img = dataImage("copied.qcow2");
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            raw.setL2Entry(0, 0, raw.l2Entry(0, 0) & ~(1L << 63));
            raw.put64(raw.l1Offset(), raw.l1Entry(0) & ~(1L << 63));
        }
        assertEquals(2, assertSameAsQemu(img).exitCode());
        assertRepairLikeQemu(img, RepairMode.LEAKS);
        assertRepairLikeQemu(img, RepairMode.ALL);
    }

    @Test
    void reservedBitsAndUnalignedEntries() throws IOException {
        Path img = dataImage("reserved.qcow2", "cluster_size=4096");
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            raw.setL2Entry(0, 5, raw.l2Entry(0, 5) | (1L << 58));
            raw.setL2Entry(0, 6, raw.l2Entry(0, 6) + 512);
            raw.setL2Entry(0, 200, (raw.l2Entry(0, 7) + 1024) | 1);
        }
        assertSameAsQemu(img);
        assertRepairLikeQemu(img, RepairMode.ALL);
    }

    @Test
    void refcountBlockOutsideImageAndMissing() throws IOException {
        Path img = dataImage("rb.qcow2", "cluster_size=4096");
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            raw.put64(raw.reftableOffset() + 8, 64L << 20);
        }
        assertSameAsQemu(img);
        assertRepairLikeQemu(img, RepairMode.ALL);

        Path gone = dataImage("rb2.qcow2");
        try (FileStorage s = FileStorage.open(gone, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            raw.put64(raw.reftableOffset(), 0);
        }
        assertEquals(2, assertSameAsQemu(gone).exitCode());
        assertRepairLikeQemu(gone, RepairMode.LEAKS);
        CheckResult r = assertRepairLikeQemu(gone, RepairMode.ALL);
        assertEquals(0, r.exitCode(), r.messages().toString());
    }

    @Test
    void extendedL2Damage() throws IOException {
        Path img = create("extbad.qcow2", "16M", "extended_l2=on");
        io(img, "write -P 2 0 64k", "write -P 2 1M 8k");
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            long bm = raw.u64(raw.l2EntryOffset(0, 0) + 8);
            raw.put64(raw.l2EntryOffset(0, 0) + 8, bm | (bm << 32));
            raw.put64(raw.l2EntryOffset(0, 3) + 8, 0xf);
        }
        assertEquals(2, assertSameAsQemu(img).exitCode());
        List<String> m = ours(img, RepairMode.NONE).messages();
        assertTrue(m.stream().anyMatch(x -> x.contains("corrupted subcluster allocation bitmap")), m.toString());
    }

    @Test
    void dirtyLazyRefcountImageIsMarkedCleanAfterRepair() throws IOException {
        Path img = dataImage("dirty.qcow2", "lazy_refcounts=on");
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            // As after a crash with lazy refcounts: a refcount not yet raised, and the dirty bit.
            long data = raw.l2Entry(0, 1) & 0x00ff_ffff_ffff_fe00L;
            raw.setRefcount(data >>> raw.clusterBits(), 0);
            raw.appendCluster();
            raw.setRefcount(raw.s.size() / raw.clusterSize() - 1, 1);
            raw.put64(72, raw.u64(72) | 1);
        }
        assertSameAsQemu(img);
        assertRepairLikeQemu(img, RepairMode.ALL);
        Path mine = dir.resolve(img.getFileName() + ".ours-all");
        try (FileStorage s = FileStorage.open(mine, false)) {
            assertEquals(0, new ImagePatcher(s).u64(72) & 1, "dirty bit cleared");
        }
        Path theirs = dir.resolve(img.getFileName() + ".qemu-all");
        try (FileStorage s = FileStorage.open(theirs, false)) {
            assertEquals(0, new ImagePatcher(s).u64(72) & 1, "qemu-img clears it too");
        }
    }

    @Test
    void brokenSnapshotTablesAreRewrittenLikeQemu() throws IOException {
        Path img = dataImage("snaptab.qcow2");
        QemuTools.qemuImg("snapshot", "-c", "keep", img.toString()).requireSuccess();
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            long sn = raw.u64(64);
            // extra data 24 -> 8 bytes: the id and name move up by 16 bytes
            byte[] idName = new byte[1 + 4];
            s.read(sn + 40 + 24, idName, 0, idName.length);
            raw.put32(sn + 36, 8);
            s.write(sn + 48, idName, 0, idName.length);
        }
        assertEquals(2, assertSameAsQemu(img).exitCode());
        CheckResult r = assertRepairLikeQemu(img, RepairMode.ALL);
        assertEquals(1, r.corruptionsFixed());
        QemuTools.Result list = QemuTools.qemuImg("snapshot", "-l", dir.resolve("snaptab.qcow2.ours-all").toString());
        assertTrue(list.requireSuccess().stdout().contains("keep"), list.stdout());

        Path big = dataImage("snapbig.qcow2");
        QemuTools.qemuImg("snapshot", "-c", "big", big.toString()).requireSuccess();
        try (FileStorage s = FileStorage.open(big, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            long sn = raw.u64(64);
            byte[] idName = new byte[1 + 3];
            s.read(sn + 40 + 24, idName, 0, idName.length);
            raw.put32(sn + 36, 1100);
            s.write(sn + 40 + 24, new byte[1100 - 24], 0, 1100 - 24);
            s.write(sn + 40 + 1100, idName, 0, idName.length);
        }
        assertEquals(1, QemuTools.qemuImgJson("check", big.toString()).exitCode(), "qemu-img cannot read it");
        assertEquals(1, ours(big, RepairMode.NONE).exitCode());
        CheckResult rb = assertRepairLikeQemu(big, RepairMode.ALL);
        assertEquals(1, rb.corruptionsFixed());
    }
}
