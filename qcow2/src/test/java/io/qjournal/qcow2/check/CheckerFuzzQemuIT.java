package io.qjournal.qcow2.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import io.qjournal.qcow2.testsupport.QemuTools.JsonResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Seeded random damage to metadata entries of a real image, then the same check by qemu-img
 * and by us: every number must agree, and our -r all must leave the image no worse (by
 * qemu-img's judgement) than qemu-img's own -r all does.
 */
class CheckerFuzzQemuIT {
    @TempDir
    static Path dir;
    static final List<Path> bases = new ArrayList<>();

    /** Three kinds of image: plain with a snapshot; extended L2; compressed with 64-bit refcounts and a snapshot. */
    @BeforeAll
    static void baseImages() {
        QemuTools.assumeAvailable("qemu-io");
        Path plain = dir.resolve("base.qcow2");
        QemuTools.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=4096", plain.toString(), "8M").requireSuccess();
        QemuTools.qemuIo("-c", "write -P 1 0 256k", "-c", "write -P 2 3M 64k", plain.toString()).requireSuccess();
        QemuTools.qemuImg("snapshot", "-c", "s1", plain.toString()).requireSuccess();
        QemuTools.qemuIo("-c", "write -P 3 64k 64k", "-c", "write -z 6M 16k", plain.toString()).requireSuccess();
        bases.add(plain);

        Path ext = dir.resolve("base-ext.qcow2");
        QemuTools.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=16384,extended_l2=on", ext.toString(), "8M")
                .requireSuccess();
        QemuTools.qemuIo("-c", "write -P 1 0 100k", "-c", "write -P 2 3M 3k", "-c", "write -z 6M 16k",
                ext.toString()).requireSuccess();
        bases.add(ext);

        Path raw = dir.resolve("src.raw");
        QemuTools.qemuImg("create", "-f", "raw", raw.toString(), "8M").requireSuccess();
        QemuTools.qemuIo("-f", "raw", "-c", "write -P 5 0 200k", "-c", "write -P 6 1M 40k", raw.toString())
                .requireSuccess();
        Path comp = dir.resolve("base-comp.qcow2");
        QemuTools.qemuImg("convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096,refcount_bits=64", raw.toString(),
                comp.toString()).requireSuccess();
        QemuTools.qemuImg("snapshot", "-c", "s1", comp.toString()).requireSuccess();
        QemuTools.qemuIo("-c", "write -P 7 8k 8k", comp.toString()).requireSuccess();
        bases.add(comp);
    }

    /** Offsets of 8-byte metadata entries worth damaging: L1, L2 and refcount table and block entries. */
    private static List<Long> targets(ImagePatcher raw) throws IOException {
        List<Long> out = new ArrayList<>();
        long l1 = raw.l1Offset();
        int l1Size = raw.u32(36);
        for (int i = 0; i < l1Size; i++) {
            out.add(l1 + 8L * i);
            long l2 = raw.l2Table(i);
            if (l2 != 0) {
                for (int j = 0; j < 80; j++) {
                    out.add(l2 + 8L * j);
                }
            }
        }
        if (raw.u32(60) > 0) {
            long sn = raw.u64(64);
            out.add(sn);
            out.add(sn + 8);
            // the snapshot's L1 table
            long snL1 = raw.u64(sn);
            out.add(snL1);
            out.add(snL1 + 8);
        }
        long rt = raw.reftableOffset();
        for (int i = 0; i < 4; i++) {
            out.add(rt + 8L * i);
        }
        long rb = raw.u64(rt) & ~0x1ffL;
        for (int i = 0; i < 40; i++) {
            out.add(rb + 8L * i);
        }
        assertTrue(out.size() > 50, "enough metadata to damage");
        return out;
    }

    private static int badness(int exitCode) {
        return switch (exitCode) {
            case 0 -> 0;
            case 3 -> 1;
            case 2 -> 2;
            default -> 3;
        };
    }

    /** Seeds 1..N; N from -Dqjournal.fuzz.seeds (default 30) so a long run can hunt for differences. */
    static java.util.stream.LongStream seeds() {
        return java.util.stream.LongStream.rangeClosed(1, Long.getLong("qjournal.fuzz.seeds", 30));
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void randomDamageIsJudgedLikeQemu(long seed) throws IOException {
        Random rnd = new Random(seed);
        Path img = dir.resolve("fuzz" + seed + ".qcow2");
        Path base = bases.get((int) (seed % bases.size()));
        Files.copy(base, img);
        StringBuilder what = new StringBuilder("seed " + seed + " on " + base.getFileName() + ":");
        try (FileStorage s = FileStorage.open(img, true)) {
            ImagePatcher raw = new ImagePatcher(s);
            List<Long> t = targets(raw);
            int n = 1 + rnd.nextInt(3);
            for (int k = 0; k < n; k++) {
                long off = t.get(rnd.nextInt(t.size()));
                long v = raw.u64(off);
                long nv = switch (rnd.nextInt(4)) {
                    case 0 -> v ^ (1L << rnd.nextInt(64));
                    case 1 -> v ^ (1L << (9 + rnd.nextInt(16)));
                    case 2 -> rnd.nextInt(3) == 0 ? 0 : v + (rnd.nextBoolean() ? 4096 : -4096);
                    default -> v ^ (rnd.nextLong() & 0x0001_0001_0001_0001L);
                };
                raw.put64(off, nv);
                what.append(String.format(" [0x%x] %x->%x", off, v, nv));
            }
        }
        JsonResult q = QemuTools.qemuImgJson("check", "-f", "qcow2", img.toString());
        CheckResult r;
        try (FileStorage s = FileStorage.open(img, false)) {
            r = ImageChecker.check(s, RepairMode.NONE);
        }
        String ctx = what + "\nqemu: " + q.fields() + "\n" + q.result().stderr() + "\nours: " + r;
        assertEquals(q.exitCode(), r.exitCode(), "exit code\n" + ctx);
        if (q.exitCode() != 1) {
            assertEquals(q.number("corruptions"), r.corruptions(), "corruptions\n" + ctx);
            assertEquals(q.number("leaks"), r.leaks(), "leaks\n" + ctx);
            assertEquals(q.number("image-end-offset"), r.imageEndOffset(), "end\n" + ctx);
            assertEquals(q.number("allocated-clusters"), r.allocatedClusters(), "allocated\n" + ctx);
            assertEquals(q.number("fragmented-clusters"), r.fragmentedClusters(), "fragmented\n" + ctx);
        }

        Path theirs = dir.resolve("fuzz" + seed + "-qemu.qcow2");
        Path mine = dir.resolve("fuzz" + seed + "-ours.qcow2");
        Files.copy(img, theirs);
        Files.copy(img, mine);
        QemuTools.qemuImg("check", "-r", "all", theirs.toString());
        CheckResult fixed;
        try (FileStorage s = FileStorage.open(mine, true)) {
            fixed = ImageChecker.check(s, RepairMode.ALL);
        }
        int qemuAfter = QemuTools.qemuImg("check", theirs.toString()).exitCode();
        JsonResult oursAfter = QemuTools.qemuImgJson("check", mine.toString());
        String after = "after -r all: qemu's copy exits " + qemuAfter + ", ours " + oursAfter.exitCode() + "\n"
                + oursAfter.result().stderr() + "\n" + ctx + "\nrepair: " + fixed;
        assertTrue(badness(oursAfter.exitCode()) <= badness(qemuAfter), after);
        // And on our repaired image both checkers still agree.
        CheckResult again;
        try (FileStorage s = FileStorage.open(mine, false)) {
            again = ImageChecker.check(s, RepairMode.NONE);
        }
        assertEquals(oursAfter.exitCode(), again.exitCode(), after + "\nour re-check: " + again);
        if (oursAfter.exitCode() != 1) {
            assertEquals(oursAfter.number("corruptions"), again.corruptions(), after);
            assertEquals(oursAfter.number("leaks"), again.leaks(), after);
            assertEquals(oursAfter.number("image-end-offset"), again.imageEndOffset(), after);
        }
    }
}
