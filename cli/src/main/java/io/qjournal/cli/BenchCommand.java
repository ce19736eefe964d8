package io.qjournal.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * qemu-img bench: COUNT requests of SIZE bytes, DEPTH in flight, offsets advancing by STEP and
 * wrapping at the image size. Depth is a pool of threads issuing requests to the thread-safe
 * engine. "-t none" has no O_DIRECT path in Java and behaves as writeback; "writethrough" and
 * "directsync" flush after every write.
 */
@Command(name = "bench", description = "Run a simple I/O benchmark (as qemu-img bench).", mixinStandardHelpOptions = true,
        version = "qjournal " + Main.VERSION)
public final class BenchCommand implements Callable<Integer> {
    @Option(names = "-c", paramLabel = "COUNT", description = "number of requests (default 75000)")
    String count = "75000";

    @Option(names = "-d", paramLabel = "DEPTH", description = "requests in flight (default 64)")
    String depth = "64";

    @Option(names = "-s", paramLabel = "SIZE", description = "request size (default 4k)")
    String size = "4k";

    @Option(names = "-S", paramLabel = "STEP", description = "offset step (default: SIZE)")
    String step;

    @Option(names = "-o", paramLabel = "OFFSET", description = "first offset (default 0)")
    String offset = "0";

    @Option(names = "-w", description = "write requests (default: read)")
    boolean write;

    @Option(names = "--flush-interval", paramLabel = "N", description = "flush every N requests (write only)")
    String flushInterval;

    @Option(names = "--no-drain", description = "flush without waiting for requests in flight")
    boolean noDrain;

    @Option(names = "--pattern", paramLabel = "BYTE", description = "byte written by write requests (default 0)")
    String pattern = "0";

    @Option(names = "-t", paramLabel = "CACHE", description = "writeback (default), none, writethrough, directsync, unsafe")
    String cache = "writeback";

    @Option(names = "-f", paramLabel = "FMT", description = "image format (probed by default)")
    String format;

    @Option(names = "-i", paramLabel = "AIO", description = "accepted for compatibility")
    String aio;

    @Option(names = "-n", description = "accepted for compatibility")
    boolean native_;

    @Option(names = "-q", description = "quiet")
    boolean quiet;

    @Option(names = {"-U", "--force-share"}, description = "open without taking image locks")
    boolean forceShare;

    @Option(names = "--journal", arity = "0..1", fallbackValue = "", paramLabel = "OPTS",
            preprocessor = JournalOptionPreprocessor.class,
            description = "write through the metadata journal: size=8M,block-size=4k,commit-interval=5s,"
                    + "commit-datasize=1M (defaults when no value)")
    String journal;

    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    @Override
    public Integer call() throws Exception {
        long n = positive("-c", count, "Invalid request count specified");
        int d = (int) Math.min(Integer.MAX_VALUE, positive("-d", depth, "Invalid queue depth specified"));
        long bs = Numbers.parseSizeOr(size, "Invalid buffer size specified");
        if (bs <= 0 || bs > IoCommands.MAX_REQUEST) {
            throw new CliException("Invalid buffer size specified");
        }
        long st = step == null ? bs : Numbers.parseSizeOr(step, "Invalid step size specified");
        long off = Numbers.parseSizeOr(offset, "Invalid offset specified");
        int pat;
        try {
            pat = Numbers.parsePattern(pattern);
        } catch (IllegalArgumentException e) {
            throw new CliException("Invalid pattern byte specified");
        }
        long fi = 0;
        if (flushInterval != null) {
            fi = positive("--flush-interval", flushInterval, "Invalid flush interval specified");
        }
        if (fi != 0 && !write) {
            throw new CliException("--flush-interval is only available in write tests");
        }
        if (fi != 0 && fi < d) {
            throw new CliException("Flush interval can't be smaller than depth");
        }
        boolean flushEach;
        switch (cache) {
            case "writeback": case "none": case "unsafe": flushEach = false; break;
            case "writethrough": case "directsync": flushEach = true; break;
            default: throw new CliException("Invalid cache mode: " + cache);
        }
        io.qjournal.qcow2.JournalOptions jo = journal == null ? null : IoCommand.parseJournalOptions(journal);
        if (jo != null && !write) {
            throw new CliException("--journal is only available in write tests");
        }
        try (Disk disk = Images.open(file, format, write, !forceShare, jo)) {
            if (jo != null && disk.qcow2() != null) {
                // Set-up, as opening is: the journal area is made before the clock starts.
                disk.qcow2().startJournal();
            }
            long imageSize = disk.size();
            if (!quiet) {
                System.out.printf("Sending %d %s requests, %d bytes each, %d in parallel (starting at offset %d, step size %d)%n",
                        n, write ? "write" : "read", bs, d, off, st);
                if (fi != 0) {
                    System.out.printf("Sending flush every %d requests%n", fi);
                }
                System.out.flush();
            }
            int threads = Math.min(d, (int) Math.min(n, Integer.MAX_VALUE));
            // Reads need a buffer per thread, writes share one pattern buffer.
            if ((long) bs * threads > Runtime.getRuntime().maxMemory() / 2) {
                throw new CliException("Buffer size " + bs + " x " + (write ? 1 : threads)
                        + " does not fit the memory available (raise -Xmx through JAVA_OPTS or lower -s/-d)");
            }
            Runner r = new Runner(disk, n, (int) bs, st, off, imageSize, write, pat, fi, !noDrain, flushEach);
            // As qemu-img allocates its request buffers before it starts the clock, the workers
            // start and allocate theirs first; the clock runs from the release of the first
            // request to the completion of the last.
            r.prepare(threads);
            long t0 = System.nanoTime();
            r.go();
            long t1 = System.nanoTime();
            if (!quiet) {
                System.out.println("Run completed in " + Numbers.fixed((t1 - t0) / 1e9, 3) + " seconds.");
                if (r.flushes.get() > 0) {
                    System.out.flush();
                    System.err.println("qjournal: " + r.flushes.get() + " flushes issued");
                }
                long syncs = disk.qcow2() == null ? -1 : disk.qcow2().storageFlushes();
                if (syncs >= 0) {
                    System.err.println("qjournal: " + syncs + " fdatasync calls on the image file");
                }
            }
        }
        return 0;
    }

    private static long positive(String opt, String v, String msg) {
        long x = Numbers.parseSizeOr(v, msg);
        if (x <= 0) {
            throw new CliException(msg);
        }
        return x;
    }

    /** The request loop: each worker claims the next request index until COUNT are issued. */
    static final class Runner {
        private static final int PAGE = 4096;
        final Disk disk;
        final long count;
        final int bs;
        final long step;
        final long start;
        final long imageSize;
        final boolean write;
        final long flushInterval;
        final boolean drain;
        final boolean flushEach;
        final byte[] pattern;
        final AtomicLong next = new AtomicLong();
        final AtomicLong flushes = new AtomicLong();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        // A drained flush as qemu-img's: it flushes when the requests not yet issued are a
        // multiple of the interval, after the ones in flight complete, and issues no request
        // before the flush returns. The requests between two such points form an epoch; the last
        // of an epoch to complete flushes. The first point comes once the first DEPTH requests
        // are out, and the flush after the last request is not timed, as qemu-img stops its
        // clock when the last request completes. (An earlier read-write lock let requests past a
        // flush point slip in first, so flushes bunched up and many found nothing to sync.)
        private long firstFlushAt;
        // One phase per flush: the waiters of an epoch are released together, without each
        // taking a monitor in turn (64 workers woken by notifyAll queue on it one by one).
        private final java.util.concurrent.Phaser flushed = new java.util.concurrent.Phaser(1);
        private volatile long flushedEpochs;
        private final AtomicLong doneInEpoch = new AtomicLong();

        Runner(Disk disk, long count, int bs, long step, long start, long imageSize, boolean write, int pat,
                long flushInterval, boolean drain, boolean flushEach) {
            this.disk = disk;
            this.count = count;
            this.bs = bs;
            this.step = step;
            this.start = start;
            this.imageSize = imageSize;
            this.write = write;
            this.flushInterval = flushInterval;
            this.drain = drain;
            this.flushEach = flushEach;
            this.pattern = new byte[bs];
            java.util.Arrays.fill(pattern, (byte) pat);
        }

        long offsetOf(long i) {
            if (imageSize <= 0) {
                return 0;
            }
            if (i == 0) {
                return start;
            }
            // qemu-img advances by STEP modulo the image size after each request.
            java.math.BigInteger o = java.math.BigInteger.valueOf(start).add(
                    java.math.BigInteger.valueOf(step).multiply(java.math.BigInteger.valueOf(i)));
            return o.mod(java.math.BigInteger.valueOf(imageSize)).longValue();
        }

        private final List<Thread> pool = new ArrayList<>();
        private final java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(1);
        private java.util.concurrent.CountDownLatch allocated;

        /** Starts the workers; each allocates its buffer, then waits for {@link #go}. */
        void prepare(int threads) throws InterruptedException {
            allocated = new java.util.concurrent.CountDownLatch(threads);
            firstFlushAt = flushInterval > 0 ? firstFlushPoint(count, threads, flushInterval) : 0;
            for (int t = 0; t < threads; t++) {
                Thread th = new Thread(this::work, "bench-" + t);
                th.setDaemon(true);
                pool.add(th);
                th.start();
            }
            allocated.await();
        }

        /** Releases the workers and waits for the last request. */
        void go() throws Exception {
            ready.countDown();
            for (Thread th : pool) {
                th.join();
            }
            Throwable f = failure.get();
            if (f instanceof Exception e) {
                throw e;
            } else if (f instanceof Error e) {
                throw e;
            }
        }

        private void work() {
            // Direct, page-aligned buffers, as QEMU's qemu_blockalign: data goes between file and
            // buffer without a copy through the Java heap, and the kernel's copy into a
            // page-aligned buffer is much faster than into malloc's 16-byte-aligned one.
            java.nio.ByteBuffer buf;
            try {
                // Whole pages: alignedSlice cuts its end down to a page boundary (-s 512 left none).
                int pages = (bs + PAGE - 1) / PAGE * PAGE;
                buf = java.nio.ByteBuffer.allocateDirect(pages + PAGE).alignedSlice(PAGE).slice(0, bs);
                if (write) {
                    buf.put(pattern).flip();
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
                return;
            } finally {
                // Counted even on failure, so prepare() never waits for a dead worker.
                allocated.countDown();
            }
            try {
                ready.await();
                boolean epochs = drain && flushInterval > 0;
                while (failure.get() == null) {
                    long i;
                    long epoch = 0;
                    if (epochs) {
                        // Like qemu-img's thread pool, a free worker takes the next request once
                        // it may be issued: a request is claimed only after the flush before it
                        // returned, so the workers already running take the epoch's requests
                        // instead of 64 parked ones each waking for one.
                        i = next.get();
                        if (i >= count) {
                            return;
                        }
                        epoch = epochOf(i, firstFlushAt, flushInterval);
                        if (!awaitEpoch(epoch)) {
                            return;
                        }
                        if (!next.compareAndSet(i, i + 1)) {
                            continue;
                        }
                    } else {
                        i = next.getAndIncrement();
                        if (i >= count) {
                            return;
                        }
                    }
                    long o = offsetOf(i);
                    buf.clear();
                    if (write) {
                        disk.write(o, buf);
                        if (flushEach) {
                            disk.flush();
                            flushes.incrementAndGet();
                        }
                    } else {
                        disk.read(o, buf);
                    }
                    if (epochs) {
                        completeInEpoch(epoch);
                    } else if (flushInterval > 0 && (i + 1) % flushInterval == 0) {
                        // --no-drain: the flush runs beside the requests in flight.
                        disk.flush();
                        flushes.incrementAndGet();
                    }
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
                flushed.forceTermination();
            }
        }

        /** Waits until the flush that ends the epoch before {@code epoch} has returned; false on failure. */
        private boolean awaitEpoch(long epoch) throws InterruptedException {
            while (flushedEpochs < epoch) {
                int phase = flushed.getPhase();
                if (flushedEpochs >= epoch) {
                    break;
                }
                if (flushed.awaitAdvanceInterruptibly(phase) < 0) {
                    return false;
                }
            }
            return failure.get() == null;
        }

        /**
         * The number of requests issued when qemu-img first flushes: the first count, once
         * DEPTH are out, that leaves a multiple of the interval unissued.
         */
        static long firstFlushPoint(long count, int depth, long interval) {
            long issued = Math.min(count, depth);
            return issued + Math.floorMod(count - issued, interval);
        }

        /** The epoch of request {@code i}: 0 before the first flush point, then one per interval. */
        static long epochOf(long i, long firstFlushAt, long interval) {
            return i < firstFlushAt ? 0 : 1 + (i - firstFlushAt) / interval;
        }

        /**
         * Counts one completed request of {@code epoch}; the last of an epoch that ends before
         * the last request flushes and lets the next epoch's requests go.
         */
        private void completeInEpoch(long epoch) throws IOException {
            long end = firstFlushAt + epoch * flushInterval;
            long size = epoch == 0 ? firstFlushAt : flushInterval;
            if (doneInEpoch.incrementAndGet() < size || end >= count) {
                return;
            }
            doneInEpoch.set(0);
            disk.flush();
            flushes.incrementAndGet();
            flushedEpochs = epoch + 1;
            flushed.arrive();
        }
    }
}
