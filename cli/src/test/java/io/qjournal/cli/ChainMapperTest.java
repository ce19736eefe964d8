package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.BlockDevice;
import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Properties of the merged map over a two-layer chain built in memory with random writes:
 * records tile the disk, neighbours are never mergeable, and every byte
 * reads as the map says (zero records over zeros; the engine's reads match a byte model).
 */
class ChainMapperTest {
    private static final long SIZE = 4L << 20;

    /** A raw backing device in memory. */
    private static final class RawMem implements BlockDevice {
        final byte[] data;

        RawMem(byte[] data) {
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
            return "base.raw";
        }

        @Override
        public void close() {
        }
    }

    @Test
    void randomChainsMapConsistently() throws IOException {
        long seed = new Random().nextLong();
        try {
            for (int round = 0; round < 6; round++) {
                check(new Random(seed + round));
            }
        } catch (AssertionError | IOException e) {
            throw new AssertionError("seed " + seed + ": " + e.getMessage(), e);
        }
    }

    private static void check(Random rnd) throws IOException {
        int cluster = 1 << (9 + rnd.nextInt(8));
        byte[] base = new byte[(int) (SIZE / 2 + rnd.nextInt(1 << 20))];
        Arrays.fill(base, (byte) 0x5a);
        MemoryStorage st = new MemoryStorage("top.qcow2");
        Qcow2Image.create(st, new CreateOptions().size(SIZE).clusterSize(cluster).extendedL2(rnd.nextBoolean() && cluster >= 16384)
                .backingFile("base.raw").backingFormat("raw"));
        byte[] expect = new byte[(int) SIZE];
        System.arraycopy(base, 0, expect, 0, base.length);
        try (Qcow2Image img = Qcow2Image.open(st, OpenOptions.readWrite().lock(false), new RawMem(base))) {
            for (int i = 0; i < 40; i++) {
                long off = rnd.nextInt((int) SIZE - 70000);
                int len = 1 + rnd.nextInt(70000);
                switch (rnd.nextInt(3)) {
                    case 0: {
                        byte[] b = new byte[len];
                        rnd.nextBytes(b);
                        img.write(off, b, 0, len);
                        System.arraycopy(b, 0, expect, (int) off, len);
                        break;
                    }
                    case 1:
                        img.writeZeroes(off, len);
                        Arrays.fill(expect, (int) off, (int) off + len, (byte) 0);
                        break;
                    default: {
                        long a = (off + cluster - 1) / cluster * cluster;
                        long e = (off + len) / cluster * cluster;
                        if (e > a) {
                            img.discard(a, e - a);
                            // As QEMU on v3 images: a guest discard reads back as zeros.
                            Arrays.fill(expect, (int) a, (int) e, (byte) 0);
                        }
                    }
                }
            }
            ChainMapper m = new ChainMapper(img);
            List<ChainMapper.Entry> entries = new ArrayList<>();
            m.forEach(0, SIZE, (e, next) -> {
                entries.add(e);
                if (next != null) {
                    assertFalse(e.mergeableWith(next), "mergeable neighbours " + e + " / " + next);
                }
            });
            long pos = 0;
            byte[] buf = new byte[1 << 16];
            for (ChainMapper.Entry e : entries) {
                assertEquals(pos, e.start(), "records must tile the disk");
                assertTrue(e.length() > 0);
                assertTrue(e.depth() == 0 || e.depth() == 1);
                if (e.depth() == 1) {
                    assertTrue(e.data() && e.offset() == e.start(), "raw layer maps at the same offset: " + e);
                }
                if (e.zero() && !e.data()) {
                    for (long p = e.start(); p < e.start() + e.length(); p++) {
                        assertEquals(0, expect[(int) p], "zero record over non-zero byte at " + p + " in " + e);
                    }
                }
                pos += e.length();
            }
            assertEquals(SIZE, pos);
            for (long p = 0; p < SIZE; p += buf.length) {
                img.read(p, buf, 0, buf.length);
                assertEquals(-1, Arrays.mismatch(buf, 0, buf.length, expect, (int) p, (int) p + buf.length),
                        "engine read differs from the model near " + p);
            }
        }
    }
}
