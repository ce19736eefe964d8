package io.qjournal.qcow2.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The ByteBuffer read/write path (direct buffers skip the heap copy) against a byte-array model. */
class DirectBufferModelTest {
    @ParameterizedTest(name = "cluster {0}, journal {1}, seed {2}")
    @CsvSource({"65536,false,1", "65536,true,2", "512,false,3", "512,true,4", "4096,true,5"})
    void directBuffersMatchTheModel(int clusterSize, boolean journal, long seed) throws Exception {
        int size = 8 << 20;
        MemoryStorage storage = new MemoryStorage("direct.qcow2");
        Qcow2Image.create(storage, new CreateOptions().size(size).clusterSize(clusterSize));
        OpenOptions o = OpenOptions.readWrite();
        if (journal) {
            o.journal(JournalOptions.parse("size=256k,commit-interval=3600s,commit-datasize=16k"));
        }
        byte[] model = new byte[size];
        Random r = new Random(seed);
        try (Qcow2Image img = Qcow2Image.open(storage, o, null)) {
            for (int i = 0; i < 1500; i++) {
                int len = 1 + r.nextInt(r.nextBoolean() ? 4 * clusterSize : 300_000);
                int off = r.nextInt(size - len);
                int op = r.nextInt(10);
                String where = "seed " + seed + " op #" + i + " at " + off + "+" + len;
                if (op < 6) {
                    byte[] b = new byte[len];
                    r.nextBytes(b);
                    ByteBuffer src = r.nextBoolean() ? ByteBuffer.allocateDirect(len + 7) : ByteBuffer.allocate(len + 7);
                    src.position(7);
                    src.put(b).position(7);
                    img.write(off, src);
                    assertEquals(len + 7, src.position(), where + ": write must consume the buffer");
                    System.arraycopy(b, 0, model, off, len);
                } else if (op < 7) {
                    img.discard(off, len);
                    long first = (off + clusterSize - 1L) / clusterSize * clusterSize;
                    long end = (long) (off + len) / clusterSize * clusterSize;
                    for (long x = first; x < end; x++) {
                        model[(int) x] = 0;
                    }
                } else if (op < 8) {
                    img.flush();
                } else {
                    ByteBuffer dst = ByteBuffer.allocateDirect(len);
                    img.read(off, dst);
                    byte[] got = new byte[len];
                    dst.flip().get(got);
                    assertArrayEquals(Arrays.copyOfRange(model, off, off + len), got, where);
                }
            }
            ByteBuffer all = ByteBuffer.allocateDirect(size);
            img.read(0, all);
            byte[] got = new byte[size];
            all.flip().get(got);
            assertArrayEquals(model, got, "seed " + seed + ": whole disk");
        }
        CheckResult c = ImageChecker.check(storage, RepairMode.NONE);
        assertEquals(0, c.corruptions() + c.leaks(), "seed " + seed + ": " + c.messages());
    }
}
