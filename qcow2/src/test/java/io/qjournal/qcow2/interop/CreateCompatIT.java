package io.qjournal.qcow2.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Images made by Qcow2Image.create open cleanly in QEMU, report the requested options in
 * qemu-img info, take writes from qemu-io, and are laid out byte for byte as qemu-img create
 * lays them out.
 */
class CreateCompatIT {
    static final long SIZE = 8L << 20;

    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Qemu.assumeAvailable();
    }

    /** One create variant: our options and the equivalent qemu-img create arguments. */
    record Variant(String name, Supplier<CreateOptions> ours, String qemuOpts, String backing, String backingFmt,
            int cs, int refcountBits, String compat, boolean lazy, boolean ext, String compression) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Arguments> variants() {
        List<Variant> l = new ArrayList<>();
        for (int cs = 512; cs <= 2 << 20; cs *= 2) {
            int c = cs;
            l.add(new Variant("cluster_size=" + cs, () -> base().clusterSize(c), "cluster_size=" + cs, null, null,
                    cs, 16, "1.1", false, false, "zlib"));
        }
        for (int bits = 1; bits <= 64; bits *= 2) {
            int b = bits;
            l.add(new Variant("refcount_bits=" + bits, () -> base().refcountBits(b), "refcount_bits=" + bits, null,
                    null, 65536, bits, "1.1", false, false, "zlib"));
        }
        l.add(new Variant("compat=0.10", () -> base().compat("0.10"), "compat=0.10", null, null, 65536, 16, "0.10",
                false, false, "zlib"));
        l.add(new Variant("compat=0.10 512", () -> base().compat("0.10").clusterSize(512), "compat=0.10,cluster_size=512",
                null, null, 512, 16, "0.10", false, false, "zlib"));
        l.add(new Variant("compat=1.1", () -> base().compat("1.1"), "compat=1.1", null, null, 65536, 16, "1.1", false,
                false, "zlib"));
        l.add(new Variant("lazy_refcounts=on", () -> base().lazyRefcounts(true), "lazy_refcounts=on", null, null, 65536,
                16, "1.1", true, false, "zlib"));
        l.add(new Variant("extended_l2=on", () -> base().extendedL2(true), "extended_l2=on", null, null, 65536, 16,
                "1.1", false, true, "zlib"));
        l.add(new Variant("extended_l2=on 16k", () -> base().extendedL2(true).clusterSize(16384),
                "extended_l2=on,cluster_size=16384", null, null, 16384, 16, "1.1", false, true, "zlib"));
        l.add(new Variant("compression_type=zstd", () -> base().compressionType(1), "compression_type=zstd", null, null,
                65536, 16, "1.1", false, false, "zstd"));
        l.add(new Variant("preallocation=metadata", () -> base().preallocation(CreateOptions.Preallocation.METADATA),
                "preallocation=metadata", null, null, 65536, 16, "1.1", false, false, "zlib"));
        l.add(new Variant("preallocation=metadata 4k", () -> base().clusterSize(4096)
                .preallocation(CreateOptions.Preallocation.METADATA), "preallocation=metadata,cluster_size=4096",
                null, null, 4096, 16, "1.1", false, false, "zlib"));
        l.add(new Variant("backing qcow2", () -> base().backingFile("base.qcow2").backingFormat("qcow2"), "", "base.qcow2",
                "qcow2", 65536, 16, "1.1", false, false, "zlib"));
        l.add(new Variant("backing raw", () -> base().backingFile("base.raw").backingFormat("raw"), "", "base.raw", "raw",
                65536, 16, "1.1", false, false, "zlib"));
        l.add(new Variant("backing raw, v2, 4k", () -> base().compat("0.10").clusterSize(4096).backingFile("base.raw")
                .backingFormat("raw"), "compat=0.10,cluster_size=4096", "base.raw", "raw", 4096, 16, "0.10", false,
                false, "zlib"));
        l.add(new Variant("everything", () -> base().clusterSize(16384).refcountBits(8).lazyRefcounts(true)
                .extendedL2(true).compressionType(1).backingFile("base.qcow2").backingFormat("qcow2"),
                "cluster_size=16384,refcount_bits=8,lazy_refcounts=on,extended_l2=on,compression_type=zstd",
                "base.qcow2", "qcow2", 16384, 8, "1.1", true, true, "zstd"));
        return l.stream().map(Arguments::of);
    }

    static CreateOptions base() {
        return new CreateOptions().size(SIZE);
    }

    private void makeBackings() throws Exception {
        Path q = dir.resolve("base.qcow2");
        QemuImages.create(q, "", SIZE);
        Qemu.io(q, "write -P 0x42 0 1M");
        Path r = dir.resolve("base.raw");
        Qemu.img("create", "-q", "-f", "raw", r.toString(), Long.toString(SIZE));
        Qemu.io(r, "raw", List.of("write -P 0x43 0 1M"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void qemuAcceptsWhatWeCreate(Variant v) throws Exception {
        makeBackings();
        Path img = dir.resolve("ours.qcow2");
        Qcow2Image.create(img, v.ours().get());
        Qemu.checkClean(img);

        Map<String, Object> info = Qemu.info(img);
        String what = v.name() + ": qemu-img info ";
        assertEquals(SIZE, Qemu.num(info.get("virtual-size")), what + "virtual-size");
        assertEquals((long) v.cs(), Qemu.num(info.get("cluster-size")), what + "cluster-size");
        Map<String, Object> fs = Qemu.formatSpecific(info);
        assertEquals(v.compat(), fs.get("compat"), what + "compat");
        assertEquals((long) v.refcountBits(), Qemu.num(fs.get("refcount-bits")), what + "refcount-bits");
        if (v.compat().equals("1.1")) {
            assertEquals(v.lazy(), fs.get("lazy-refcounts"), what + "lazy-refcounts");
            assertEquals(v.ext(), fs.get("extended-l2"), what + "extended-l2");
            assertEquals(v.compression(), fs.get("compression-type"), what + "compression-type");
            assertEquals(false, fs.get("corrupt"), what + "corrupt");
        }
        assertEquals(v.backing(), info.get("backing-filename"), what + "backing-filename");
        assertEquals(v.backingFmt(), info.get("backing-filename-format"), what + "backing-filename-format");

        // QEMU can write and read it, and the result stays clean and reads the same through us.
        Qemu.io(img, "write -P 0x5a 100000 70000", "read -P 0x5a 100000 70000", "write -z 300000 65536",
                "read -P 0 300000 65536", "write -P 0x5b " + (SIZE - 1000) + " 1000");
        Qemu.checkClean(img);
        Path raw = dir.resolve("ours.raw");
        Qemu.toRaw(img, raw);
        try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readOnly())) {
            DiskCompare.assertWholeDiskSame(v.name(), q, raw);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void sameBytesAsQemuImgCreate(Variant v) throws Throwable {
        sameBytes(v);
    }

    private void sameBytes(Variant v) throws Exception {
        makeBackings();
        Path ours = dir.resolve("ours.qcow2");
        Path theirs = dir.resolve("theirs.qcow2");
        Qcow2Image.create(ours, v.ours().get());
        List<String> args = new ArrayList<>(List.of("create", "-q", "-f", "qcow2"));
        if (!v.qemuOpts().isEmpty()) {
            args.add("-o");
            args.add(v.qemuOpts());
        }
        if (v.backing() != null) {
            args.addAll(List.of("-b", v.backing(), "-F", v.backingFmt()));
        }
        args.add(theirs.toString());
        args.add(Long.toString(SIZE));
        Qemu.img(args.toArray(String[]::new));

        byte[] a = Files.readAllBytes(theirs);
        byte[] b = Files.readAllBytes(ours);
        int headerBytes = Math.min(v.cs(), Math.min(a.length, b.length));
        int m = Arrays.mismatch(a, 0, headerBytes, b, 0, headerBytes);
        if (m >= 0) {
            fail(v.name() + ": header cluster differs from qemu-img create's at byte " + m + " (0x"
                    + Integer.toHexString(m) + "): qemu 0x" + Integer.toHexString(a[m] & 0xff) + ", ours 0x"
                    + Integer.toHexString(b[m] & 0xff));
        }
        assertEquals(a.length, b.length, v.name() + ": file length differs from qemu-img create's");
        int all = Arrays.mismatch(a, b);
        if (all >= 0) {
            fail(v.name() + ": file differs from qemu-img create's at byte " + all + " (cluster " + (all / v.cs())
                    + ")");
        }
    }
}
