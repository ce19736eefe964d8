package io.qjournal.qcow2.dedup;

import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;

/**
 * The dedup scan's reads and fingerprints, streamed in file order to the one thread that decides.
 *
 * <p>Every candidate cluster gets a 64-bit fingerprint, CRC-32C and CRC-32 of its bytes side by
 * side. Both run in the CPU's own CRC and carry-less multiply instructions at tens of GB/s per
 * core, straight from the direct buffer, so the scan runs at the device's rate. SHA-256 of
 * every cluster costs more CPU than the reads take, and is
 * only ever needed for clusters that turn out to have a twin (docs/format/dedup.md): equal
 * bytes always give equal fingerprints, and a fingerprint match is only a hint that the decider
 * checks byte for byte.
 *
 * <p>With direct I/O two reader threads keep the device busy on their own: they read the next
 * chunks into a small pool of buffers while the fingerprinting threads work on the ones already
 * read; with one reader the device sat idle between two requests.
 *
 * <p>Through the page cache (no direct I/O) each thread reads its own small chunk and
 * fingerprints it while the kernel's copy is still in its core's cache; the kernel's readahead
 * keeps the device busy then.
 *
 * <p>Chunk {@code c}'s fingerprints are handed out by {@link #take} in order; a chunk is read
 * only once fewer than {@code ahead} chunks wait for their decisions, which bounds the memory
 * held however slowly the decisions go (each duplicate costs the decider two cluster reads).
 */
final class HashPipeline implements AutoCloseable {
    /** Reader threads per image with direct I/O. */
    private static final int READERS = 2;
    private final Storage storage;
    private final DirectReader direct;
    private final long[] hosts;
    private final List<int[]> chunks;
    private final int cb;
    private final boolean zeroCheck;
    private final Semaphore ahead;
    private final Chunk[] ring;
    private final BlockingQueue<ByteBuffer> free;
    private final BlockingQueue<Integer> filled;
    private final ByteBuffer[] filledBuffers;
    private final AtomicInteger nextChunk = new AtomicInteger();
    private final List<Thread> threads = new ArrayList<>();
    private final Object lock = new Object();
    private Throwable failure;

    /**
     * @param hosts     host offsets of the candidate clusters, ascending
     * @param chunks    runs of contiguous candidates, {first, end}, each fitting one buffer
     * @param direct    the O_DIRECT reader, or null to read through {@code storage}
     * @param zeroCheck whether an all-zero cluster gets null instead of a hash
     */
    HashPipeline(Storage storage, DirectReader direct, long[] hosts, List<int[]> chunks, int cb,
            int chunkBytes, int hashers, int buffers, int ahead, boolean zeroCheck) {
        this.storage = storage;
        this.direct = direct;
        this.hosts = hosts;
        this.chunks = chunks;
        this.cb = cb;
        this.zeroCheck = zeroCheck;
        int window = Math.max(ahead, buffers);
        this.ahead = new Semaphore(window);
        this.ring = new Chunk[window];
        this.filledBuffers = new ByteBuffer[window];
        if (direct != null) {
            free = new ArrayBlockingQueue<>(buffers);
            for (int i = 0; i < buffers; i++) {
                free.add(Deduplicator.aligned(chunkBytes));
            }
            filled = new ArrayBlockingQueue<>(window + hashers);
            for (int r = 0; r < READERS; r++) {
                threads.add(thread("dedup-read", this::readAhead));
            }
        } else {
            free = null;
            filled = null;
        }
        for (int t = 0; t < Math.min(hashers, Math.max(1, chunks.size())); t++) {
            threads.add(thread("dedup-hash", direct != null ? this::hashRead : () -> readAndHash(chunkBytes)));
        }
        threads.forEach(Thread::start);
    }

    /**
     * One chunk's clusters in file order: each one's fingerprint, and whether it is all zeros
     * (always false when zeros are not checked).
     */
    record Chunk(long[] fingerprints, boolean[] zero) {
    }

    /**
     * Chunk {@code c}'s fingerprints, once read; {@code c} counts up from 0, and each chunk taken
     * frees a place for one more to be read. Once a worker has failed, every chunk not yet
     * handed out throws its error: the scan stops there, and no worker is left to wait for.
     */
    Chunk take(int c) throws IOException {
        synchronized (lock) {
            try {
                while (ring[c % ring.length] == null && failure == null) {
                    lock.wait();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("dedup scan interrupted");
            }
            Chunk out = ring[c % ring.length];
            if (out == null) {
                // Chunks published before the failure are still handed out; this one may never be.
                throw rethrow(failure);
            }
            ring[c % ring.length] = null;
            ahead.release();
            return out;
        }
    }

    @Override
    public void close() {
        threads.forEach(Thread::interrupt);
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /**
     * A direct reader's thread: the next chunk in file order into a free buffer. Two of them
     * keep two reads in flight per image, so the device is never idle between two requests.
     */
    private void readAhead() throws Exception {
        while (true) {
            ahead.acquire();
            int c = nextChunk.getAndIncrement();
            if (c >= chunks.size()) {
                return;
            }
            ByteBuffer buf = free.take();
            read(c, buf);
            filledBuffers[c % filledBuffers.length] = buf;
            filled.put(c);
        }
    }

    private void hashRead() throws Exception {
        Hasher h = new Hasher();
        while (true) {
            int c = filled.take();
            ByteBuffer buf = filledBuffers[c % filledBuffers.length];
            Chunk out = h.hash(c, buf);
            free.put(buf);
            publish(c, out);
        }
    }

    /** Without direct I/O: each thread reads and hashes its own chunk (see the class comment). */
    private void readAndHash(int chunkBytes) throws Exception {
        Hasher h = new Hasher();
        ByteBuffer buf = Deduplicator.aligned(chunkBytes);
        while (true) {
            ahead.acquire();
            int c = nextChunk.getAndIncrement();
            if (c >= chunks.size()) {
                return;
            }
            read(c, buf);
            publish(c, h.hash(c, buf));
        }
    }

    private void read(int c, ByteBuffer buf) throws IOException {
        int first = chunks.get(c)[0];
        int bytes = (chunks.get(c)[1] - first) << cb;
        buf.clear().limit(bytes);
        if (direct == null || !direct.read(hosts[first], buf)) {
            buf.clear().limit(bytes);
            storage.read(hosts[first], buf);
        }
    }

    private void publish(int c, Chunk hashes) {
        synchronized (lock) {
            ring[c % ring.length] = hashes;
            lock.notifyAll();
        }
    }

    private Thread thread(String name, Work work) {
        Thread t = new Thread(() -> {
            try {
                work.run();
            } catch (InterruptedException e) {
                // close() ends the workers; a failure elsewhere has been recorded already.
            } catch (Throwable e) {
                synchronized (lock) {
                    if (failure == null) {
                        failure = e;
                    }
                    lock.notifyAll();
                }
            }
        }, name);
        t.setDaemon(true);
        return t;
    }

    private static IOException rethrow(Throwable t) {
        if (t instanceof IOException io) {
            return io;
        }
        if (t instanceof RuntimeException re) {
            throw re;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IOException(t);
    }

    private interface Work {
        void run() throws Exception;
    }

    /** One thread's checksums and the zeros an all-zero cluster is compared against. */
    private final class Hasher {
        private final CRC32C crc32c = new CRC32C();
        private final CRC32 crc32 = new CRC32();
        private final ByteBuffer zeros = ByteBuffer.allocateDirect(1 << cb);
        private final long zeroPrint = fingerprint(zeros, crc32c, crc32);

        Chunk hash(int c, ByteBuffer buf) {
            int first = chunks.get(c)[0];
            int n = chunks.get(c)[1] - first;
            long[] prints = new long[n];
            boolean[] zero = new boolean[n];
            for (int k = 0; k < n; k++) {
                ByteBuffer cl = buf.duplicate().position(k << cb).limit((k + 1) << cb);
                prints[k] = fingerprint(cl, crc32c, crc32);
                // Only a cluster with the zero cluster's fingerprint can be all zeros.
                zero[k] = zeroCheck && prints[k] == zeroPrint && cl.mismatch(zeros) == -1;
            }
            return new Chunk(prints, zero);
        }
    }

    /**
     * CRC-32C in the high half, CRC-32 (another polynomial) in the low half: each over the whole
     * cluster, so a change anywhere changes both. Neither is cryptographic; a match only names a
     * cluster to compare byte for byte.
     */
    static long fingerprint(ByteBuffer cluster, CRC32C crc32c, CRC32 crc32) {
        crc32c.reset();
        crc32c.update(cluster.duplicate());
        crc32.reset();
        crc32.update(cluster.duplicate());
        return crc32c.getValue() << 32 | crc32.getValue();
    }
}
