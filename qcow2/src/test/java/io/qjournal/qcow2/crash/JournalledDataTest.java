package io.qjournal.qcow2.crash;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Small writes into fresh clusters travel inside the journal transaction: the file does not
 * grow at the commit, reads see the bytes before the checkpoint, a crash after the commit
 * replays them, and later overwrites, discards and reuse never let older journalled bytes win.
 */
class JournalledDataTest {
    private static final int MIB = 1 << 20;
    private static final JournalOptions JOURNAL = JournalOptions.parse("size=1M,block-size=4k,commit-interval=3600s");

    private static MemoryStorage fresh() throws IOException {
        MemoryStorage s = new MemoryStorage("jdata.qcow2");
        Qcow2Image.create(s, new CreateOptions().size(16L * MIB));
        return s;
    }

    private static byte[] pattern(int len, int seed) {
        byte[] b = new byte[len];
        for (int i = 0; i < len; i++) {
            b[i] = (byte) (seed * 31 + i * 7);
        }
        return b;
    }

    @Test
    void smallFreshWriteTravelsInTheCommitAndReplaysAfterACrash() throws IOException {
        MemoryStorage s = fresh();
        byte[] a = pattern(4096, 1);
        byte[] crashed;
        Qcow2Image img = Qcow2Image.open(s, OpenOptions.readWrite().journal(JOURNAL), null);
        try {
            // The first write creates the journal (at the end of the file); measure after it.
            img.write(0, a, 0, a.length);
            img.flush();
            long sizeBefore = s.size();
            img.write(5 * 65536 + 512, a, 0, a.length);
            img.flush();
            // The commit made it durable without writing it home: the file did not grow to
            // cover the new data cluster (it lies past the journal, at the end).
            assertEquals(sizeBefore, s.size(), "the data went home before the checkpoint");
            byte[] heap = new byte[4096];
            img.read(5 * 65536 + 512, heap, 0, heap.length);
            assertArrayEquals(a, heap, "heap read before the checkpoint");
            ByteBuffer direct = ByteBuffer.allocateDirect(8192);
            img.read(5 * 65536, direct);
            byte[] got = new byte[8192];
            direct.flip().get(got);
            assertEquals(-1, Arrays.mismatch(new byte[512], Arrays.copyOfRange(got, 0, 512)), "zeros before the write");
            assertArrayEquals(a, Arrays.copyOfRange(got, 512, 4608), "direct read before the checkpoint");
            crashed = s.toByteArray();
        } finally {
            img.close();
        }
        // Power lost right after the flush: the copy holds the committed transaction only.
        MemoryStorage c = new MemoryStorage("jdata-crashed.qcow2", crashed);
        try (Qcow2Image again = Qcow2Image.open(c, OpenOptions.readWrite(), null)) {
            assertTrue(again.journalStatusAtOpen().dirty(), "premise: the crash left a dirty journal");
            byte[] back = new byte[4096];
            again.read(5 * 65536 + 512, back, 0, back.length);
            assertArrayEquals(a, back, "replayed data");
        }
        CheckResult r = ImageChecker.check(c, RepairMode.NONE);
        assertTrue(r.isClean(), "after replay: " + r.messages());
    }

    @Test
    void afterADataHeavyTransactionSmallWritesGoInPlace() throws IOException {
        MemoryStorage s = fresh();
        byte[] a = pattern(4096, 8);
        try (Qcow2Image img = Qcow2Image.open(s, OpenOptions.readWrite().journal(JOURNAL), null)) {
            img.write(0, a, 0, a.length);
            img.flush();
            // Many writes under one flush (80 KiB of data): the next transaction journals none.
            for (int i = 1; i <= 20; i++) {
                img.write(i * 65536L, a, 0, a.length);
            }
            img.flush();
            long sizeBefore = s.size();
            img.write(40 * 65536L, a, 0, a.length);
            img.flush();
            assertTrue(s.size() > sizeBefore, "the small write after a data-heavy transaction went home");
            // One light transaction later, small fresh writes travel in the journal again.
            img.flush();
            long sizeAgain = s.size();
            img.write(42 * 65536L, a, 0, a.length);
            img.flush();
            assertEquals(sizeAgain, s.size(), "a light transaction journals small fresh writes again");
            byte[] back = new byte[4096];
            img.read(42 * 65536L, back, 0, back.length);
            assertArrayEquals(a, back);
        }
        CheckResult r = ImageChecker.check(s, RepairMode.NONE);
        assertTrue(r.isClean(), "after a clean close: " + r.messages());
    }

    @Test
    void newerBytesWinOverJournalledOnesThroughCheckpointAndClose() throws IOException {
        MemoryStorage s = fresh();
        byte[] shadow = new byte[MIB];
        try (Qcow2Image img = Qcow2Image.open(s, OpenOptions.readWrite().journal(JOURNAL), null)) {
            byte[] a = pattern(4096, 2);
            img.write(65536, a, 0, a.length); // fresh cluster: journalled
            System.arraycopy(a, 0, shadow, 65536, a.length);
            byte[] b = pattern(1024, 3);
            img.write(65536 + 2048, b, 0, b.length); // overlaps journalled bytes: journalled too
            System.arraycopy(b, 0, shadow, 65536 + 2048, b.length);
            img.flush();
            byte[] c = pattern(65536, 4);
            img.write(65536, c, 0, c.length); // whole cluster in place after the commit
            System.arraycopy(c, 0, shadow, 65536, c.length);
            byte[] d = pattern(4096, 5);
            img.write(3 * 65536, d, 0, d.length); // fresh, then discarded and reused
            img.flush();
            img.discard(3 * 65536, 65536);
            byte[] e = pattern(700, 6);
            img.write(3 * 65536 + 100, e, 0, e.length);
            System.arraycopy(e, 0, shadow, 3 * 65536 + 100, e.length);
            byte[] live = new byte[MIB];
            img.read(0, live, 0, MIB);
            assertEquals(-1, Arrays.mismatch(shadow, live), "while open");
            img.checkpoint();
            img.read(0, live, 0, MIB);
            assertEquals(-1, Arrays.mismatch(shadow, live), "after a checkpoint");
        }
        try (Qcow2Image img = Qcow2Image.open(s, OpenOptions.readOnly(), null)) {
            byte[] live = new byte[MIB];
            img.read(0, live, 0, MIB);
            assertEquals(-1, Arrays.mismatch(shadow, live), "after a clean close");
        }
        CheckResult r = ImageChecker.check(s, RepairMode.NONE);
        assertTrue(r.isClean(), "after a clean close: " + r.messages());
    }

    @Test
    void smallOverwriteOfAnOwnedClusterTravelsInTheCommitAndReplays() throws IOException {
        MemoryStorage s = fresh();
        byte[] whole = pattern(65536, 7);
        byte[] small = pattern(4096, 8);
        byte[] crashed;
        long flushesBefore;
        Qcow2Image img = Qcow2Image.open(s, OpenOptions.readWrite().journal(JOURNAL), null);
        try {
            img.write(2 * 65536, whole, 0, whole.length); // a whole cluster goes in place
            img.checkpoint();
            byte[] home = s.toByteArray();
            flushesBefore = s.flushCount();
            img.write(2 * 65536 + 8192, small, 0, small.length); // an overwrite: no metadata changes
            img.flush();
            assertEquals(1, s.flushCount() - flushesBefore, "one flush for the overwrite's commit");
            // Durable in the ring, not yet home: the file's copy of the cluster is unchanged.
            long host = findHost(home, s.toByteArray(), whole);
            assertArrayEquals(whole, Arrays.copyOfRange(s.toByteArray(), (int) host, (int) host + 65536),
                    "the overwrite went home before the checkpoint");
            byte[] expect = whole.clone();
            System.arraycopy(small, 0, expect, 8192, small.length);
            byte[] live = new byte[65536];
            img.read(2 * 65536, live, 0, live.length);
            assertArrayEquals(expect, live, "read before the checkpoint");
            crashed = s.toByteArray();
            img.checkpoint();
            img.read(2 * 65536, live, 0, live.length);
            assertArrayEquals(expect, live, "read after the checkpoint");
        } finally {
            img.close();
        }
        MemoryStorage c = new MemoryStorage("jdata-overwrite-crashed.qcow2", crashed);
        try (Qcow2Image again = Qcow2Image.open(c, OpenOptions.readWrite(), null)) {
            assertTrue(again.journalStatusAtOpen().dirty(), "premise: the crash left a dirty journal");
            byte[] back = new byte[65536];
            again.read(2 * 65536, back, 0, back.length);
            byte[] expect = whole.clone();
            System.arraycopy(small, 0, expect, 8192, small.length);
            assertArrayEquals(expect, back, "replayed overwrite");
        }
        CheckResult r = ImageChecker.check(c, RepairMode.NONE);
        assertTrue(r.isClean(), "after replay: " + r.messages());
    }

    /** Host offset of the cluster holding {@code whole} in both file images. */
    private static long findHost(byte[] a, byte[] b, byte[] whole) {
        for (int off = 0; off + whole.length <= Math.min(a.length, b.length); off += 512) {
            if (Arrays.equals(a, off, off + whole.length, whole, 0, whole.length)
                    && Arrays.equals(b, off, off + whole.length, whole, 0, whole.length)) {
                return off;
            }
        }
        throw new AssertionError("the cluster's bytes are not at one host offset in both files");
    }
}
