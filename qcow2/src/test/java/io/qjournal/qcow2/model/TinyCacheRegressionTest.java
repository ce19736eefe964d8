package io.qjournal.qcow2.model;

import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.interop.KnownEngineBugs;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * A nine-operation sequence, shrunk from a failing ModelTest run, that loses data when the L2
 * cache holds only two tables (512-byte clusters, 2 MiB disk). Each step is verified in full.
 */
class TinyCacheRegressionTest {
    /** kind, offset, length, byte: the shrunk sequence. */
    private static final Object[][] OPS = {
        {'z', 971714L, 142625, (byte) -72}, {'w', 899225L, 509, (byte) -104}, {'z', 2018329L, 1260, (byte) 112},
        {'w', 1151236L, 1409, (byte) -39}, {'w', 1655052L, 381, (byte) 8}, {'w', 534583L, 728, (byte) -107},
        {'w', 1323701L, 1279, (byte) 127}, {'w', 1482779L, 1493, (byte) -5}, {'w', 1010538L, 56200, (byte) -55},
    };

    @Test
    void twoTableL2CacheKeepsEveryWrite() throws Throwable {
        KnownEngineBugs.run("TinyCacheRegressionTest", "two-table L2 cache", this::replay);
    }

    private void replay() throws Exception {
        int cs = 512;
        long size = 2L << 20;
        MemoryStorage s = new MemoryStorage("tiny-cache.qcow2");
        Qcow2Image.create(s, new CreateOptions().size(size).clusterSize(cs));
        byte[] model = new byte[(int) size];
        try (Qcow2Image img = Qcow2Image.open(s, OpenOptions.readWrite().l2CacheBytes(2L * cs), null)) {
            for (int i = 0; i < OPS.length; i++) {
                char kind = (char) OPS[i][0];
                long off = (long) OPS[i][1];
                int len = (int) OPS[i][2];
                byte v = (byte) OPS[i][3];
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
