package io.qjournal.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.storage.ForwardingStorage;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A write into clusters taken from past the end of the file writes its data after the image's
 * lock is released; a flush (any metadata write) waits for it, so no L2 entry is made durable
 * before the data it points at.
 */
class DeferredDataWriteTest {
    private static final byte PATTERN = 0x5a;

    /** Holds back the first write of at least 4 KiB that starts with PATTERN until released. */
    private static final class HeldDataWrite extends ForwardingStorage {
        final CountDownLatch reached = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicReference<String> order = new AtomicReference<>("");

        HeldDataWrite(MemoryStorage base) {
            super(base);
        }

        @Override
        public void write(long offset, ByteBuffer src) throws IOException {
            if (src.remaining() >= 4096 && src.get(src.position()) == PATTERN && reached.getCount() > 0) {
                reached.countDown();
                try {
                    assertTrue(release.await(10, TimeUnit.SECONDS), "never released");
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
                base.write(offset, src);
                order.accumulateAndGet("data ", String::concat);
                return;
            }
            base.write(offset, src);
        }

        @Override
        public void write(long offset, byte[] src, int off, int len) throws IOException {
            write(offset, ByteBuffer.wrap(src, off, len));
        }

        @Override
        public void flush() throws IOException {
            order.accumulateAndGet("flush ", String::concat);
            super.flush();
        }
    }

    /**
     * At 4 MiB the L2 table exists (the first write made it) and the write goes straight from
     * the buffer; at 768 MiB the table is new and the write takes the per-cluster path. With a
     * journal, writes of 64 KiB or less may travel inside the transaction instead.
     */
    @ParameterizedTest(name = "journal {0}, {1} bytes at MiB {2}")
    @CsvSource({"false, 4096, 4", "false, 131072, 4", "false, 4096, 768", "true, 131072, 4", "true, 131072, 768"})
    void aFlushWaitsForDataWrittenOutsideTheLock(boolean journal, int size, long mib) throws Exception {
        MemoryStorage mem = new MemoryStorage("held.qcow2");
        Qcow2Image.create(mem, new CreateOptions().size(1L << 30));
        HeldDataWrite held = new HeldDataWrite(mem);
        OpenOptions oo = journal ? OpenOptions.readWrite().journal(JournalOptions.defaults()) : OpenOptions.readWrite();
        byte[] data = new byte[size];
        Arrays.fill(data, PATTERN);
        try (Qcow2Image img = Qcow2Image.open(held, oo, null)) {
            img.write(1 << 20, new byte[] {1, 2, 3}, 0, 3);
            img.flush();
            held.order.set("");
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    img.write(mib << 20, ByteBuffer.allocateDirect(size).put(data).flip());
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            assertTrue(held.reached.await(10, TimeUnit.SECONDS), "the data write never came");
            // The writer is inside its data write: the lock is free for readers and writers.
            byte[] got = new byte[3];
            img.read(1 << 20, got, 0, 3);
            assertArrayEquals(new byte[] {1, 2, 3}, got);
            CompletableFuture<Void> flusher = CompletableFuture.runAsync(() -> {
                try {
                    img.flush();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            Thread.sleep(300);
            assertFalse(flusher.isDone(), "the flush returned while a write's data was still on its way");
            held.release.countDown();
            writer.get(10, TimeUnit.SECONDS);
            flusher.get(10, TimeUnit.SECONDS);
            assertTrue(held.order.get().startsWith("data flush"), held.order.get());
            byte[] back = new byte[size];
            img.read(mib << 20, back, 0, back.length);
            assertArrayEquals(data, back);
        }
        CheckResult r = ImageChecker.check(mem, RepairMode.NONE);
        assertTrue(r.isClean(), r.messages().toString());
        assertEquals(0, r.leaks());
    }
}
