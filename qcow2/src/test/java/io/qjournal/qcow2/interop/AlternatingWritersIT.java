package io.qjournal.qcow2.interop;

import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.interop.RandomWorkloadIT.Op;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * QEMU and our engine take turns on the same image (with internal snapshots taken between
 * turns), so each must cope with metadata the other wrote: COPIED flags, refcounts, freed and
 * reused clusters. The guest disk must always equal a plain byte-array model.
 */
class AlternatingWritersIT {
    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Qemu.assumeAvailable();
    }

    @ParameterizedTest(name = "{0} seed {1}")
    @CsvSource({"'cluster_size=4096', 4096, 6291456, 71", "'cluster_size=512,refcount_bits=8', 512, 2097152, 72",
        "'extended_l2=on,cluster_size=16384', 16384, 20971520, 73", "'compat=0.10,cluster_size=4096', 4096, 6291456, 74"})
    void takeTurns(String opts, int cs, long size, long seed) throws Exception {
        Path img = dir.resolve("shared.qcow2");
        QemuImages.create(img, opts, size);
        boolean ext = opts.contains("extended_l2=on");
        long l2cov = (long) (cs / (ext ? 16 : 8)) * cs;
        List<Op> all = RandomWorkloadIT.workload(seed, size, cs, l2cov, true);
        byte[] model = new byte[(int) size];
        int turns = 6;
        int per = all.size() / turns;
        for (int t = 0; t < turns; t++) {
            List<Op> batch = all.subList(t * per, t == turns - 1 ? all.size() : (t + 1) * per);
            String who = t % 2 == 0 ? "qemu-io" : "qjournal";
            try {
                if (t % 2 == 0) {
                    List<String> cmds = new ArrayList<>();
                    batch.forEach(op -> cmds.add(op.qemu()));
                    Qemu.io(img, "qcow2", cmds);
                } else {
                    try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readWrite())) {
                        for (Op op : batch) {
                            op.apply(q);
                        }
                    }
                }
                for (Op op : batch) {
                    apply(model, op, cs);
                }
                Qemu.checkClean(img);
                if (t == 2) {
                    Qemu.img("snapshot", "-c", "turn" + t, img.toString());
                }
                assertModel(img, model, "after turn " + t + " (" + who + ")");
            } catch (AssertionError | Exception e) {
                throw new AssertionError(opts + " seed " + seed + ", turn " + t + " by " + who + ": " + e.getMessage(), e);
            }
        }
    }

    static void apply(byte[] model, Op op, int cs) {
        int off = (int) op.off();
        int len = (int) op.len();
        switch (op.kind()) {
            case 'w': Arrays.fill(model, off, off + len, (byte) op.pattern()); break;
            case 'z': Arrays.fill(model, off, off + len, (byte) 0); break;
            default: {
                long start = (op.off() + cs - 1) / cs * cs;
                long end = (op.off() + op.len()) / cs * cs;
                if (op.off() + op.len() == model.length) {
                    end = model.length; // QEMU also frees the partial last cluster at the disk's end
                }
                if (start < end) {
                    Arrays.fill(model, (int) start, (int) end, (byte) 0);
                }
            }
        }
    }

    private void assertModel(Path img, byte[] model, String when) throws Exception {
        Path raw = dir.resolve("shared.raw");
        Files.deleteIfExists(raw);
        Qemu.toRaw(img, raw);
        byte[] q = Files.readAllBytes(raw);
        int m = Arrays.mismatch(model, q);
        if (m >= 0) {
            fail(when + ": QEMU reads 0x" + Integer.toHexString(q[m] & 0xff) + " at " + m + ", model has 0x"
                    + Integer.toHexString(model[m] & 0xff));
        }
        try (Qcow2Image o = Qcow2Image.open(img, OpenOptions.readOnly())) {
            byte[] b = new byte[model.length];
            o.read(0, b, 0, b.length);
            int n = Arrays.mismatch(model, b);
            if (n >= 0) {
                fail(when + ": we read 0x" + Integer.toHexString(b[n] & 0xff) + " at " + n + ", model has 0x"
                        + Integer.toHexString(model[n] & 0xff));
            }
        }
    }
}
