package io.qjournal.qcow2.model;

import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Short operation sequences, shrunk from failing ModelTest runs, that lost data with small
 * metadata caches (evictions on nearly every request). Each step is verified in full.
 */
class TinyCacheRegressionTest {
    /** kind, offset, length, byte: the shrunk sequence. */
    private static final Object[][] OPS = {
        {'z', 971714L, 142625, (byte) -72}, {'w', 899225L, 509, (byte) -104}, {'z', 2018329L, 1260, (byte) 112},
        {'w', 1151236L, 1409, (byte) -39}, {'w', 1655052L, 381, (byte) 8}, {'w', 534583L, 728, (byte) -107},
        {'w', 1323701L, 1279, (byte) 127}, {'w', 1482779L, 1493, (byte) -5}, {'w', 1010538L, 56200, (byte) -55},
    };

    /** Shrunk from ModelTest "file 4k tiny caches with journal" (4 KiB clusters, 12 MiB). */
    private static final Object[][] JOURNAL_OPS = {
        {'w', 11791222L, 7245, (byte) -46}, {'z', 3700093L, 10554, (byte) -88}, {'w', 4758883L, 4179, (byte) 81},
        {'w', 9361491L, 11902, (byte) -90}, {'w', 6852085L, 3062, (byte) 15},
    };

    @Test
    void twoTableL2CacheKeepsEveryWrite() throws Throwable {
        replay(OPS, 512, 2L << 20, OpenOptions.readWrite().l2CacheBytes(1024));
    }

    @Test
    void smallCachesWithTheJournalKeepEveryWrite() throws Throwable {
        replay(JOURNAL_OPS, 4096, 12L << 20, OpenOptions.readWrite().l2CacheBytes(8192)
                .refcountCacheBytes(4096).journal(JournalOptions.defaults()));
    }

    private void replay(Object[][] ops, int cs, long size, OpenOptions opts) throws Exception {
        MemoryStorage s = new MemoryStorage("tiny-cache.qcow2");
        Qcow2Image.create(s, new CreateOptions().size(size).clusterSize(cs));
        byte[] model = new byte[(int) size];
        try (Qcow2Image img = Qcow2Image.open(s, opts, null)) {
            for (int i = 0; i < ops.length; i++) {
                char kind = (char) ops[i][0];
                long off = (long) ops[i][1];
                int len = (int) ops[i][2];
                byte v = (byte) ops[i][3];
                if (kind == 'w') {
                    byte[] b = new byte[len];
                    Arrays.fill(b, v);
                    img.write(off, b, 0, len);
                    Arrays.fill(model, (int) off, (int) off + len, v);
                } else {
                    img.writeZeroes(off, len);
                    Arrays.fill(model, (int) off, (int) off + len, (byte) 0);
                }
                byte[] all = new byte[(int) size];
                img.read(0, all, 0, all.length);
                int m = Arrays.mismatch(model, all);
                if (m >= 0) {
                    fail("after op #" + i + " (" + kind + " " + off + " " + len + "): guest byte " + m + " reads 0x"
                            + Integer.toHexString(all[m] & 0xff) + ", expected 0x" + Integer.toHexString(model[m] & 0xff));
                }
            }
        }
    }
}
