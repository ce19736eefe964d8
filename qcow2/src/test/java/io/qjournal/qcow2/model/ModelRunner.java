package io.qjournal.qcow2.model;

import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.BlockDevice;
import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Random;

/**
 * Drives a random sequence of guest operations against the engine and a {@link GuestModel},
 * over MemoryStorage or a temporary file, and checks every read against the model.
 */
final class ModelRunner {

    /** One model-test configuration. */
    record Config(String name, boolean file, int clusterSize, int version, boolean extendedL2, boolean backing,
            int refcountBits, long size, int ops, boolean journal, boolean tinyCache) {
        Config(String name, boolean file, int clusterSize, int version, boolean extendedL2, boolean backing,
                int refcountBits, long size, int ops) {
            this(name, file, clusterSize, version, extendedL2, backing, refcountBits, size, ops, false, false);
        }

        Config(String name, boolean file, int clusterSize, int version, boolean extendedL2, boolean backing,
                int refcountBits, long size, int ops, boolean journal) {
            this(name, file, clusterSize, version, extendedL2, backing, refcountBits, size, ops, journal, false);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** An in-memory raw backing device. */
    static final class MemoryDevice implements BlockDevice {
        final byte[] data;

        MemoryDevice(byte[] data) {
            this.data = data;
        }

        @Override
        public long size() {
            return data.length;
        }

        @Override
        public void read(long offset, byte[] buf, int off, int len) {
            for (int i = 0; i < len; i++) {
                long p = offset + i;
                buf[off + i] = p < data.length ? data[(int) p] : 0;
            }
        }

        @Override
        public String name() {
            return "memory-backing";
        }

        @Override
        public void close() {
        }
    }

    final Config cfg;
    final long seed;
    final Path dir;
    final Random r;
    final Deque<String> recent = new ArrayDeque<>();
    GuestModel model;
    MemoryStorage storage;
    MemoryDevice backingDevice;
    Path imagePath;
    Qcow2Image img;

    ModelRunner(Config cfg, long seed, Path dir) {
        this.cfg = cfg;
        this.seed = seed;
        this.dir = dir;
        this.r = new Random(seed);
    }

    /** Runs the whole sequence; any failure names the seed and the last operations. */
    void run() throws Exception {
        try {
            setUp();
            for (int i = 0; i < cfg.ops(); i++) {
                step(i);
            }
            verifyAll("end of run");
            img.close();
            img = null;
            reopen(false);
            verifyAll("after final reopen (read-only)");
            img.close();
            img = null;
            checkClean();
        } catch (Throwable t) {
            throw new AssertionError(cfg.name() + " seed=" + seed + ": " + t
                    + "\nlast operations (oldest first):\n  " + String.join("\n  ", recent), t);
        } finally {
            if (img != null) {
                try {
                    img.close();
                } catch (IOException ignored) {
                    // already failing
                }
            }
        }
    }

    /** The engine's own checker must find no corruption and no leak after the whole history. */
    private void checkClean() throws IOException {
        CheckResult res;
        if (cfg.file()) {
            try (FileStorage s = FileStorage.open(imagePath, false)) {
                res = ImageChecker.check(s, RepairMode.NONE);
            }
        } else {
            res = ImageChecker.check(storage, RepairMode.NONE);
        }
        if (!res.isClean()) {
            fail("ImageChecker: " + res.corruptions() + " corruptions, " + res.leaks() + " leaks, "
                    + res.checkErrors() + " check errors:\n  " + String.join("\n  ", res.messages()));
        }
    }

    private void setUp() throws Exception {
        int cs = cfg.clusterSize();
        byte[] back = null;
        CreateOptions co = new CreateOptions().size(cfg.size()).clusterSize(cs).compat(cfg.version() == 2 ? "0.10" : "1.1")
                .extendedL2(cfg.extendedL2()).refcountBits(cfg.refcountBits());
        if (cfg.backing()) {
            back = new byte[(int) cfg.size()];
            Random br = new Random(seed ^ 0x5eed);
            for (int off = 0; off < back.length; off += 4096) {
                if (br.nextInt(3) != 0) {
                    byte[] chunk = new byte[4096];
                    br.nextBytes(chunk);
                    System.arraycopy(chunk, 0, back, off, 4096);
                }
            }
            co.backingFile("base.raw").backingFormat("raw");
        }
        model = new GuestModel(cfg.size(), back, cs);
        if (cfg.file()) {
            imagePath = dir.resolve("model.qcow2");
            if (back != null) {
                Files.write(dir.resolve("base.raw"), back);
            }
            Qcow2Image.create(imagePath, co);
        } else {
            storage = new MemoryStorage("model.qcow2");
            backingDevice = back == null ? null : new MemoryDevice(back);
            Qcow2Image.create(storage, co);
        }
        reopen(true);
    }

    private void reopen(boolean writable) throws IOException {
        OpenOptions o = writable ? OpenOptions.readWrite() : OpenOptions.readOnly();
        if (cfg.tinyCache()) {
            // two L2 tables and one refcount block: every few operations evict dirty metadata
            o.l2CacheBytes(2L * cfg.clusterSize()).refcountCacheBytes(cfg.clusterSize());
        }
        if (writable && cfg.journal()) {
            o.journal(JournalOptions.defaults());
        }
        img = cfg.file() ? Qcow2Image.open(imagePath, o) : Qcow2Image.open(storage, o, backingDevice);
    }

    private void log(String s) {
        recent.addLast(s);
        if (recent.size() > 25) {
            recent.removeFirst();
        }
    }

    private void step(int i) throws Exception {
        long size = cfg.size();
        int cs = cfg.clusterSize();
        long off = pickOffset(size, cs);
        long len = Math.min(size - off, r.nextInt(6) == 0 ? 1 + r.nextInt(200_000) : 1 + r.nextInt(3 * cs));
        int k = r.nextInt(1000);
        if (k < 450) {
            byte[] b = new byte[(int) len];
            if (r.nextBoolean()) {
                r.nextBytes(b);
            } else {
                java.util.Arrays.fill(b, (byte) (1 + r.nextInt(255)));
            }
            log("#" + i + " write " + off + " " + len);
            img.write(off, b, 0, b.length);
            model.write(off, b);
        } else if (k < 580) {
            log("#" + i + " writeZeroes " + off + " " + len);
            img.writeZeroes(off, len);
            model.zero(off, len);
        } else if (k < 700) {
            if (r.nextBoolean()) {
                off = off / cs * cs;
            }
            log("#" + i + " discard " + off + " " + len);
            img.discard(off, len);
            model.discard(off, len);
        } else if (k < 985) {
            log("#" + i + " read " + off + " " + len);
            verify(off, (int) len, "op #" + i);
        } else if (k < 993) {
            log("#" + i + " flush");
            img.flush();
        } else {
            log("#" + i + " close+reopen");
            img.close();
            img = null;
            reopen(true);
        }
    }

    private long pickOffset(long size, int cs) {
        long l2cov = (long) (cs / (cfg.extendedL2() ? 16 : 8)) * cs;
        int w = r.nextInt(10);
        long off;
        if (w < 5) {
            off = (long) (r.nextDouble() * size);
        } else if (w < 8) {
            off = (long) r.nextInt((int) (size / cs)) * cs + r.nextInt(257) - 128;
        } else {
            off = (1 + r.nextInt((int) Math.max(1, size / l2cov))) * l2cov + r.nextInt(2 * cs + 1) - cs;
        }
        return Math.max(0, Math.min(size - 1, off));
    }

    private void verify(long off, int len, String when) throws IOException {
        byte[] got = new byte[len];
        img.read(off, got, 0, len);
        long bad = model.mismatch(off, got, len);
        if (bad >= 0) {
            fail(when + ": guest byte " + bad + " reads 0x" + Integer.toHexString(got[(int) (bad - off)] & 0xff)
                    + ", model has 0x" + Integer.toHexString(model.disk[(int) bad] & 0xff));
        }
    }

    void verifyAll(String when) throws IOException {
        int chunk = 1 << 20;
        for (long off = 0; off < cfg.size(); off += chunk) {
            verify(off, (int) Math.min(chunk, cfg.size() - off), when);
        }
    }
}
