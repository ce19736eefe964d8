package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.BlockDevice;
import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench's drained flushes fall where qemu-img's do (qemu-img.c bench_cb: a flush when the
 * requests not yet issued are a multiple of the interval, after those in flight complete, and
 * nothing issued until it returns).
 */
class BenchFlushPointsTest {
    @TempDir
    Path dir;

    @Test
    void firstFlushPointFollowsQemuImgArithmetic() {
        // 2000 requests, depth 64: 1936 unissued after the first 64; the next multiple of 64
        // below is 1920, reached after 16 more.
        assertEquals(80, BenchCommand.Runner.firstFlushPoint(2000, 64, 64));
        assertEquals(64, BenchCommand.Runner.firstFlushPoint(128, 64, 64));
        assertEquals(50, BenchCommand.Runner.firstFlushPoint(300, 8, 50));
        assertEquals(1, BenchCommand.Runner.firstFlushPoint(2000, 1, 1));
        assertEquals(10, BenchCommand.Runner.firstFlushPoint(10, 64, 64));
        assertEquals(0, BenchCommand.Runner.epochOf(79, 80, 64));
        assertEquals(1, BenchCommand.Runner.epochOf(80, 80, 64));
        assertEquals(1, BenchCommand.Runner.epochOf(143, 80, 64));
        assertEquals(2, BenchCommand.Runner.epochOf(144, 80, 64));
    }

    @Test
    void eachFlushComesAfterItsWholeEpochAndBeforeTheNext() throws Exception {
        Recording disk = new Recording();
        BenchCommand.Runner r = new BenchCommand.Runner(disk, 2000, 512, 512, 0, 1 << 20, true, 0xa5, 64, true, false);
        r.prepare(64);
        r.go();
        List<Integer> between = disk.writesBetweenFlushes();
        // 30 timed flushes; the last 16 requests end the run unflushed (qemu-img's last flush
        // comes after its clock stops).
        assertEquals(30, between.size(), between.toString());
        assertEquals(80, between.get(0));
        for (int i = 1; i < between.size(); i++) {
            assertEquals(64, between.get(i), "flush " + i + ": " + between);
        }
        assertEquals(0, disk.inFlightAtFlush.get(), "a flush ran beside a request");
        assertTrue(disk.maxInFlight.get() > 1, "the requests never overlapped: " + disk.maxInFlight.get());
        assertEquals(30, r.flushes.get());
    }

    @Test
    void everyFlushOfARealImageFindsWritesToSync() throws Exception {
        Path img = dir.resolve("b.qcow2");
        Qcow2Image.create(img, new CreateOptions().size(64L << 20));
        for (String journal : new String[] {null, "--journal"}) {
            List<String> args = new ArrayList<>(List.of("bench", "-w", "-c", "640", "-d", "32", "-s", "4k",
                    "-S", "64k", "--flush-interval=64", img.toString()));
            if (journal != null) {
                args.add(1, journal);
            }
            String err = run(args.toArray(String[]::new));
            assertEquals(9, number(err, "(\\d+) flushes issued"), err);
            // Each flush follows 64 new writes, so none of them may find nothing to sync.
            assertTrue(number(err, "(\\d+) fdatasync calls") >= 9, err);
        }
        run("check", img.toString());
    }

    private static long number(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        assertTrue(m.find(), text);
        return Long.parseLong(m.group(1));
    }

    private static String run(String... args) {
        InProcess r = InProcess.run(args);
        assertEquals(0, r.rc(), r.err());
        return r.err();
    }

    /** A disk that records the order of writes and flushes (the scheduler is what is tested). */
    private static final class Recording extends Disk {
        private final List<Character> events = new ArrayList<>();
        private final AtomicInteger inFlight = new AtomicInteger();
        final AtomicInteger maxInFlight = new AtomicInteger();
        final AtomicInteger inFlightAtFlush = new AtomicInteger();

        @Override public long size() { return 1 << 20; }
        @Override public String name() { return "recording"; }
        @Override public void read(long offset, byte[] buf, int off, int len) { }
        @Override public void writeZeroes(long offset, long len) { }
        @Override public void discard(long offset, long len) { }
        @Override public Qcow2Image qcow2() { return null; }
        @Override public BlockDevice device() { return null; }
        @Override public void close() { }

        @Override
        public void write(long offset, byte[] buf, int off, int len) {
            int now = inFlight.incrementAndGet();
            maxInFlight.accumulateAndGet(now, Math::max);
            Thread.yield();
            synchronized (events) {
                events.add('W');
            }
            inFlight.decrementAndGet();
        }

        @Override
        public void flush() {
            inFlightAtFlush.accumulateAndGet(inFlight.get(), Math::max);
            synchronized (events) {
                events.add('F');
            }
        }

        List<Integer> writesBetweenFlushes() {
            List<Integer> out = new ArrayList<>();
            int n = 0;
            synchronized (events) {
                for (char c : events) {
                    if (c == 'F') {
                        out.add(n);
                        n = 0;
                    } else {
                        n++;
                    }
                }
            }
            return out;
        }
    }
}
