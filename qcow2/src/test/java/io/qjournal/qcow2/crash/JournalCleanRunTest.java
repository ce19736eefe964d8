package io.qjournal.qcow2.crash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * No crash at all: the journalled engine through refcount-table and L1 moves, then a clean
 * close, must keep every byte the guest wrote. A fast reproducer for what the crash suite's
 * table-growth workload finds at its last crash point.
 */
class JournalCleanRunTest {
    private static final int MIB = 1 << 20;

    @Test
    void tableMovesKeepGuestDataWithJournal() throws IOException {
        run(JournalOptions.parse("size=512K,block-size=512,commit-interval=3600s,commit-datasize=64k"));
    }

    /** The same without a journal: tells engine bugs of the journal path from the others. */
    @Test
    void tableMovesKeepGuestDataWithoutJournal() throws IOException {
        run(null);
    }

    private static void run(JournalOptions journal) throws IOException {
        long seed = Long.getLong("qjournal.crash.seed", 20261125L);
        MemoryStorage s = new MemoryStorage("moves.qcow2");
        Qcow2Image.create(s, new CreateOptions().size(MIB).clusterSize(512).refcountBits(64));
        byte[] shadow = new byte[4 * MIB];
        Random rnd = new Random(seed);
        int rtBefore;
        try (Qcow2Image img = Qcow2Image.open(s, OpenOptions.readWrite().journal(journal), null)) {
            rtBefore = img.header().refcountTableClusters();
            for (int i = 0; i < 400; i++) {
                if (i == 40) {
                    img.resize(64L * MIB);
                }
                int limit = i < 40 ? MIB : shadow.length;
                int len = 512 * (1 + rnd.nextInt(32));
                int off = rnd.nextInt(limit - len);
                byte[] b = new byte[len];
                rnd.nextBytes(b);
                img.write(off, b, 0, len);
                System.arraycopy(b, 0, shadow, off, len);
                if (rnd.nextInt(4) == 0) {
                    img.flush();
                }
            }
            assertTrue(img.header().refcountTableClusters() > rtBefore, "premise: the refcount table moved");
            byte[] live = new byte[shadow.length];
            img.read(0, live, 0, live.length);
            assertEquals(-1, Arrays.mismatch(shadow, live), "guest data wrong while open (seed " + seed + ")");
        }
        CheckResult r = ImageChecker.check(s, RepairMode.NONE);
        assertTrue(r.isClean(), "checker after a clean close: " + r.messages());
        byte[] after = new byte[shadow.length];
        try (Qcow2Image img = Qcow2Image.open(s, OpenOptions.readOnly(), null)) {
            img.read(0, after, 0, after.length);
        }
        int m = Arrays.mismatch(shadow, after);
        assertEquals(-1, m, () -> "guest data wrong after a clean close at offset " + m + " (seed " + seed + ")");
    }
}
