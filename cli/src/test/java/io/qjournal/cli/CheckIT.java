package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** check's output, counts and exit codes agree with qemu-img check on clean and damaged images. */
class CheckIT {
    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        QemuTools.assumeAvailable("qemu-io");
    }

    private void agree(String img, int expectedExit) {
        QemuTools.Result ref = QemuTools.run(dir, "qemu-img", "check", img);
        QemuTools.Result ours = Launcher.run(dir, "check", img);
        assertEquals(expectedExit, ref.exitCode(), "qemu-img itself: " + ref.stdout() + ref.stderr());
        assertEquals(ref.exitCode(), ours.exitCode(), ours.stdout() + ours.stderr());
        assertEquals(ref.stdout(), ours.stdout());
        Object refJson = MiniJson.parse(QemuTools.run(dir, "qemu-img", "check", "--output=json", img).stdout());
        Object ourJson = MiniJson.parse(Launcher.run(dir, "check", "--output=json", img).stdout());
        assertEquals(refJson, ourJson);
    }

    @Test
    void cleanImages() {
        for (String kind : new String[] {"c64k", "zlib", "snapshots", "extl2", "prealloc"}) {
            Path sub = dir.resolve(kind);
            sub.toFile().mkdirs();
            String img = ImageKinds.build(sub, kind);
            agree(kind + "/" + img, 0);
        }
    }

    @Test
    void leakedClustersExitThree() throws IOException {
        String img = ImageKinds.build(dir, "c64k");
        long clusters = (Files.size(dir.resolve(img)) + 65535) / 65536;
        // Two unused clusters inside the file that claim a reference: leaks, no harm to data.
        try (FileChannel ch = FileChannel.open(dir.resolve(img), StandardOpenOption.WRITE)) {
            ch.truncate(clusters * 65536);
            ch.write(ByteBuffer.allocate(1), (clusters + 4) * 65536 - 1);
        }
        setRefcount(dir.resolve(img), clusters + 1, 1);
        setRefcount(dir.resolve(img), clusters + 2, 1);
        agree(img, 3);
        Files.copy(dir.resolve(img), dir.resolve("ref.qcow2"), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(dir.resolve(img), dir.resolve("ours.qcow2"), StandardCopyOption.REPLACE_EXISTING);
        QemuTools.Result ref = QemuTools.run(dir, "qemu-img", "check", "-r", "leaks", "--output=json", "ref.qcow2");
        QemuTools.Result ours = Launcher.run(dir, "check", "-r", "leaks", "--output=json", "ours.qcow2");
        assertEquals(ref.exitCode(), ours.exitCode());
        Map<?, ?> r = (Map<?, ?>) MiniJson.parse(ref.stdout());
        Map<?, ?> o = (Map<?, ?>) MiniJson.parse(ours.stdout());
        assertEquals(r.get("leaks-fixed"), o.get("leaks-fixed"));
        assertEquals(r.get("leaks"), o.get("leaks"));
        assertEquals(0, QemuTools.run(dir, "qemu-img", "check", "ours.qcow2").exitCode());
    }

    @Test
    void corruptionExitsTwo() throws IOException {
        String img = ImageKinds.build(dir, "c64k");
        // The first data cluster (after header, refcount table/block, L1, L2) loses its refcount.
        long dataCluster = firstDataCluster(dir.resolve(img));
        setRefcount(dir.resolve(img), dataCluster, 0);
        agree(img, 2);
        QemuTools.Result ours = Launcher.run(dir, "check", img);
        assertTrue(ours.stdout().contains("errors were found on the image."), ours.stdout());
        Files.copy(dir.resolve(img), dir.resolve("ref.qcow2"), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(dir.resolve(img), dir.resolve("ours.qcow2"), StandardCopyOption.REPLACE_EXISTING);
        QemuTools.Result ref = QemuTools.run(dir, "qemu-img", "check", "-r", "all", "ref.qcow2");
        QemuTools.Result fixed = Launcher.run(dir, "check", "-r", "all", "ours.qcow2");
        assertEquals(ref.exitCode(), fixed.exitCode(), fixed.stdout() + fixed.stderr());
        assertEquals(ref.stdout(), fixed.stdout());
        assertEquals(ref.stderr(), fixed.stderr());
        Launcher.tool(dir, "qemu-img", "compare", "ref.qcow2", "ours.qcow2");
    }

    @Test
    void rawImagesHaveNoChecks() throws IOException {
        Launcher.tool(dir, "qemu-img", "create", "-f", "raw", "r.raw", "1M");
        QemuTools.Result ours = Launcher.run(dir, "check", "r.raw");
        assertEquals(63, ours.exitCode());
        assertEquals(QemuTools.run(dir, "qemu-img", "check", "r.raw").exitCode(), ours.exitCode());
    }

    private static long firstDataCluster(Path img) throws IOException {
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.READ)) {
            long l1 = readLong(ch, 40);
            long l2 = readLong(ch, l1) & 0x00fffffffffffe00L;
            long data = readLong(ch, l2) & 0x00fffffffffffe00L;
            return data / 65536;
        }
    }

    /** Patches the 16-bit refcount of one cluster (64 KiB clusters, first refcount block). */
    static void setRefcount(Path img, long cluster, int value) throws IOException {
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long reftable = readLong(ch, 48);
            long block = readLong(ch, reftable);
            assertTrue(block != 0 && cluster < 32768, "test image layout unexpected");
            ByteBuffer b = ByteBuffer.allocate(2).putShort(0, (short) value);
            ch.write(b, block + cluster * 2);
        }
    }

    private static long readLong(FileChannel ch, long off) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8);
        ch.read(b, off);
        return b.getLong(0);
    }
}
