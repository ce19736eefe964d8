package io.qjournal.qcow2.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The same seeded workload (unaligned writes, write-zeroes, discards, overwrites crossing
 * cluster and L2-table boundaries) applied by qemu-io to one copy of an image and by our engine
 * to another: qemu-img compare must find them identical and qemu-img check must find ours clean.
 */
class RandomWorkloadIT {
    static final int OPS = 300;

    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Qemu.assumeAvailable();
    }

    /** One guest operation. */
    record Op(char kind, long off, long len, int pattern) {
        String qemu() {
            switch (kind) {
                case 'w': return "write -P 0x" + Integer.toHexString(pattern) + " " + off + " " + len;
                case 'z': return "write -z " + off + " " + len;
                default: return "discard " + off + " " + len;
            }
        }

        void apply(Qcow2Image img) throws Exception {
            switch (kind) {
                case 'w': {
                    byte[] b = new byte[(int) len];
                    Arrays.fill(b, (byte) pattern);
                    img.write(off, b, 0, b.length);
                    break;
                }
                case 'z': img.writeZeroes(off, len); break;
                default: img.discard(off, len);
            }
        }
    }

    static List<Op> workload(long seed, long size, int cs, long l2cov, boolean discards) {
        Random r = new Random(seed);
        List<Op> ops = new ArrayList<>();
        for (int i = 0; i < OPS; i++) {
            long off;
            int where = r.nextInt(10);
            if (where < 4) {
                off = (long) (r.nextDouble() * size);
            } else if (where < 7) {
                off = (long) r.nextInt((int) (size / cs)) * cs + r.nextInt(1025) - 512;
            } else if (where < 9) {
                long boundaries = Math.max(1, size / l2cov);
                off = (1 + r.nextInt((int) boundaries)) * l2cov + r.nextInt(4 * cs + 1) - 2L * cs;
            } else if (!ops.isEmpty()) {
                Op prev = ops.get(r.nextInt(ops.size()));
                off = prev.off() + r.nextInt(513) - 256;
            } else {
                off = 0;
            }
            int sz = r.nextInt(40);
            long len = sz == 0 ? 1 + r.nextInt(4 << 20) : sz < 6 ? 1 + r.nextInt(256 * 1024) : 1 + r.nextInt(3 * cs);
            off = Math.max(0, Math.min(off, size - 1));
            len = Math.min(len, size - off);
            int k = r.nextInt(100);
            char kind = k < 65 ? 'w' : k < 82 || !discards ? 'z' : 'd';
            if (kind == 'd' && r.nextBoolean()) {
                // whole-cluster discards, so something is really freed
                off = off / cs * cs;
                len = Math.min(size - off, ((len + cs - 1) / cs) * cs);
            }
            ops.add(new Op(kind, off, len, 1 + r.nextInt(255)));
        }
        return ops;
    }

    /** name, create options, cluster size, size, extended L2, setup kind; each run with two seeds. */
    static Stream<Arguments> cases() {
        List<Object[]> l = List.of(
                new Object[] {"fresh v3 4k", "cluster_size=4096", 4096, 6L << 20, false, ""},
                new Object[] {"fresh v3 512", "cluster_size=512", 512, 2L << 20, false, ""},
                new Object[] {"fresh v3 64k", "", 65536, 16L << 20, false, ""},
                new Object[] {"fresh v3 2M", "cluster_size=2097152", 2 << 20, 64L << 20, false, ""},
                new Object[] {"extended_l2 2M with backing", "extended_l2=on,cluster_size=2097152", 2 << 20, 64L << 20,
                    true, "backing"},
                new Object[] {"v2 4k", "compat=0.10,cluster_size=4096", 4096, 6L << 20, false, ""},
                new Object[] {"v2 512", "compat=0.10,cluster_size=512", 512, 2L << 20, false, ""},
                new Object[] {"backing file", "cluster_size=4096", 4096, 6L << 20, false, "backing"},
                new Object[] {"raw backing file shorter than the disk, unaligned end", "cluster_size=65536", 65536,
                    6L << 20, false, "shortbacking"},
                new Object[] {"snapshot", "cluster_size=4096", 4096, 6L << 20, false, "snapshot"},
                new Object[] {"extended_l2 16k", "extended_l2=on,cluster_size=16384", 16384, 20L << 20, true, ""},
                new Object[] {"extended_l2 64k with backing", "extended_l2=on", 65536, 8L << 20, true, "backing"},
                new Object[] {"refcount_bits=1", "refcount_bits=1,cluster_size=512", 512, 4L << 20, false, ""},
                new Object[] {"refcount_bits=64", "refcount_bits=64,cluster_size=512", 512, 4L << 20, false, ""},
                new Object[] {"lazy_refcounts", "lazy_refcounts=on,cluster_size=4096", 4096, 6L << 20, false, ""},
                new Object[] {"lazy_refcounts left dirty by a crash", "lazy_refcounts=on,cluster_size=4096", 4096,
                    6L << 20, false, "dirty"},
                new Object[] {"overwriting zlib-compressed clusters", "cluster_size=4096", 4096, 6L << 20, false,
                    "compressed"},
                new Object[] {"overwriting zstd-compressed clusters", "cluster_size=65536,compression_type=zstd", 65536,
                    8L << 20, false, "compressed"},
                new Object[] {"preallocation=metadata", "preallocation=metadata,cluster_size=4096", 4096, 6L << 20,
                    false, ""},
                new Object[] {"ours with two-table L2 and one-block refcount caches, 512", "cluster_size=512", 512,
                    2L << 20, false, "tinycache"},
                new Object[] {"ours with the metadata journal, 4k", "cluster_size=4096", 4096, 6L << 20, false, "journal"},
                new Object[] {"ours with the metadata journal, 512 B clusters", "cluster_size=512", 512,
                    2L << 20, false, "journal"});
        List<Arguments> out = new ArrayList<>();
        long seed = 1001;
        for (Object[] c : l) {
            for (int i = 0; i < 2; i++) {
                out.add(Arguments.of(c[0], c[1], c[2], c[3], c[4], c[5], seed++));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} (seed {6})")
    @MethodSource("cases")
    void sameWorkloadSameImage(String name, String opts, int cs, long size, boolean ext, String setup, long seed)
            throws Throwable {
        try {
            run(name, opts, cs, size, ext, setup, seed);
        } catch (AssertionError | Exception e) {
            throw new AssertionError("random workload '" + name + "' failed with seed " + seed + ": " + e.getMessage(), e);
        }
    }

    private void run(String name, String opts, int cs, long size, boolean ext, String setup, long seed)
            throws Exception {
        Path theirs = dir.resolve("qemu.qcow2");
        Path ours = dir.resolve("ours.qcow2");
        if (setup.equals("backing")) {
            Path base = dir.resolve("base.qcow2");
            QemuImages.create(base, "cluster_size=65536", size);
            Qemu.io(base, "qcow2", QemuImages.patternCommands(65536, size, false, 9));
            Qemu.io(base, "write -P 0x5a 0 " + (size / 2));
            Qemu.img("create", "-q", "-f", "qcow2", "-o", opts.isEmpty() ? "cluster_size=65536" : opts,
                    "-b", "base.qcow2", "-F", "qcow2", theirs.toString(), Long.toString(size));
        } else if (setup.equals("shortbacking")) {
            Path base = dir.resolve("base.raw");
            long baseSize = size / 2 + 1000; // ends inside a cluster
            Files.write(base, new byte[0]);
            Qemu.img("resize", "-q", "-f", "raw", base.toString(), Long.toString(baseSize));
            Qemu.io(base, "raw", List.of("write -P 0x6b 0 " + baseSize));
            Qemu.img("create", "-q", "-f", "qcow2", "-o", opts, "-b", "base.raw", "-F", "raw", theirs.toString(),
                    Long.toString(size));
        } else {
            QemuImages.create(theirs, opts, size);
        }
        if (setup.equals("snapshot")) {
            Qemu.io(theirs, "qcow2", QemuImages.patternCommands(cs, size, ext, 2));
            Qemu.img("snapshot", "-c", "before", theirs.toString());
        } else if (setup.equals("compressed")) {
            Path src = dir.resolve("src.qcow2");
            QemuImages.create(src, "cluster_size=" + cs, size);
            Qemu.io(src, "qcow2", QemuImages.patternCommands(cs, size, ext, 4));
            Qemu.io(src, "write -P 0x71 0 " + (size / 3));
            Files.delete(theirs);
            Qemu.img("convert", "-c", "-O", "qcow2", "-o", opts, src.toString(), theirs.toString());
        } else if (setup.equals("dirty")) {
            List<String> cmd = new ArrayList<>(List.of("sh", "-c", "ulimit -c 0; exec qemu-io -f qcow2 \"$@\"", "qemu-io"));
            for (String c : QemuImages.patternCommands(cs, size, ext, 6)) {
                cmd.add("-c");
                cmd.add(c);
            }
            cmd.addAll(List.of("-c", "abort", theirs.toString()));
            Qemu.run(cmd, 120);
        }
        Files.copy(theirs, ours, StandardCopyOption.REPLACE_EXISTING);

        long l2cov = (long) (cs / (ext ? 16 : 8)) * cs;
        List<Op> ops = workload(seed, size, cs, l2cov, true);
        List<String> cmds = new ArrayList<>();
        for (Op op : ops) {
            cmds.add(op.qemu());
        }
        Qemu.io(theirs, "qcow2", cmds);

        OpenOptions oo = OpenOptions.readWrite();
        if (setup.equals("journal")) {
            oo.journal(JournalOptions.defaults());
        }
        if (setup.equals("tinycache")) {
            oo.l2CacheBytes(2L * cs).refcountCacheBytes(cs);
        }
        try (Qcow2Image img = Qcow2Image.open(ours, oo)) {
            int i = 0;
            for (Op op : ops) {
                try {
                    op.apply(img);
                } catch (Exception e) {
                    fail("op #" + i + " " + op.qemu() + " failed: " + e, e);
                }
                i++;
            }
        }

        Qemu.checkClean(theirs); // sanity: the reference itself is clean
        Qemu.checkClean(ours);
        Qemu.Result cmp = Qemu.imgResult("compare", "-f", "qcow2", "-F", "qcow2", theirs.toString(), ours.toString());
        if (cmp.exit() != 0) {
            fail("qemu-img compare: " + cmp.all().strip() + "\n(ops as qemu-io commands, first 40: "
                    + String.join("; ", cmds.subList(0, Math.min(40, cmds.size()))) + ")");
        }
        if (setup.equals("snapshot")) {
            Path a = dir.resolve("snap-qemu.raw");
            Path b = dir.resolve("snap-ours.raw");
            Qemu.img("convert", "-l", "snapshot.name=before", "-O", "raw", theirs.toString(), a.toString());
            Qemu.img("convert", "-l", "snapshot.name=before", "-O", "raw", ours.toString(), b.toString());
            assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "snapshot 'before' contents differ");
        }
    }
}
