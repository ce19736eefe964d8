package io.qjournal.daemon.nbd;

import static io.qjournal.daemon.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Commands of the transmission phase against a memory export. */
class NbdServerTest {
    static final int SIZE = 8 << 20;
    private final MemoryExport disk = new MemoryExport("disk", SIZE, false);
    private final MemoryExport ro = new MemoryExport("ro", 1 << 20, true);
    private NbdServer server;

    @BeforeEach
    void start() throws Exception {
        server = new NbdServer(new MemoryExports().add(disk).add(ro),
                NbdServer.Config.defaults(new InetSocketAddress("127.0.0.1", 0)).withLog(l -> { }));
        server.start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private NbdTestClient client(String name) throws Exception {
        return NbdTestClient.connect(server.tcpAddress(), name);
    }

    private static long[] ext(long length, int flags) {
        return new long[] {length, flags};
    }

    private static void assertExtents(List<long[]> expected, List<long[]> actual) {
        assertEquals(expected.size(), actual.size(), "extent count: " + describe(actual));
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), actual.get(i), "extent " + i + " of " + describe(actual));
        }
    }

    private static String describe(List<long[]> extents) {
        StringBuilder b = new StringBuilder();
        for (long[] e : extents) {
            b.append(Arrays.toString(e));
        }
        return b.toString();
    }

    @Test
    void writeReadFlushRoundTrip() throws Exception {
        try (NbdTestClient c = client("disk")) {
            assertEquals(SIZE, c.size());
            assertTrue(c.structured());
            assertEquals(FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES
                    | FLAG_CAN_MULTI_CONN | FLAG_SEND_DF, c.transmissionFlags());
            byte[] data = new byte[10000];
            new Random(1).nextBytes(data);
            c.write(12345, data, false);
            assertArrayEquals(data, c.read(12345, data.length));
            long before = disk.flushes.get();
            c.flush();
            assertEquals(before + 1, disk.flushes.get());
            c.write(0, new byte[] {1, 2, 3}, true);
            assertEquals(1, disk.fuaWrites.get());
            assertArrayEquals(new byte[] {1, 2, 3, 0}, c.read(0, 4));
            assertArrayEquals(new byte[0], c.read(100, 0));
            assertEquals(1, disk.clients.get());
            c.disconnect();
        }
    }

    @Test
    void trimMakesHolesAndBlockStatusReportsThem() throws Exception {
        try (NbdTestClient c = client("disk")) {
            assertExtents(List.of(ext(SIZE, 3)), c.blockStatus(0, SIZE, false));
            c.write(0, new byte[16384], false);
            c.trim(4096, 8192, false);
            assertExtents(List.of(ext(4096, 0), ext(8192, 3), ext(4096, 0), ext(SIZE - 16384, 3)),
                    c.blockStatus(0, SIZE, false));
            assertExtents(List.of(ext(4096, 0)), c.blockStatus(0, SIZE, true));
            // extents never run past the request
            assertExtents(List.of(ext(4096, 0), ext(1000, 3)), c.blockStatus(0, 5096, false));
            assertExtents(List.of(ext(100, 3)), c.blockStatus(5000, 100, true));
        }
    }

    @Test
    void writeZeroesKeepsAllocationOnlyWithNoHole() throws Exception {
        try (NbdTestClient c = client("disk")) {
            byte[] ones = new byte[8192];
            Arrays.fill(ones, (byte) 1);
            c.write(0, ones, false);
            c.writeZeroes(0, 4096, true, false);
            c.writeZeroes(4096, 4096, false, true);
            assertArrayEquals(new byte[8192], c.read(0, 8192));
            assertExtents(List.of(ext(4096, 0), ext(4096, 3)), c.blockStatus(0, 8192, false));
        }
    }

    @Test
    void requestsBeyondTheExportAreRefusedAndTheConnectionGoesOn() throws Exception {
        try (NbdTestClient c = client("disk")) {
            assertEquals(NbdError.EINVAL, c.call(CMD_READ, 0, SIZE - 10, 11, null).errno());
            assertEquals(NbdError.ENOSPC, c.call(CMD_WRITE, 0, SIZE - 10, 11, new byte[11]).errno());
            assertEquals(NbdError.EINVAL, c.call(CMD_TRIM, 0, SIZE, 4096, null).errno());
            assertEquals(NbdError.ENOSPC, c.call(CMD_WRITE_ZEROES, 0, SIZE + 4096, 1, null).errno());
            assertEquals(NbdError.EINVAL, c.call(CMD_BLOCK_STATUS, 0, SIZE - 1, 2, null).errno());
            // offsets are unsigned 64-bit on the wire: 2^64 - 4096 must not wrap around
            assertEquals(NbdError.EINVAL, c.call(CMD_READ, 0, -4096, 4096, null).errno());
            assertEquals(NbdError.ENOSPC, c.call(CMD_WRITE, 0, Long.MAX_VALUE, 1, new byte[1]).errno());
            assertEquals(NbdError.EINVAL, c.call(CMD_BLOCK_STATUS, 0, 0, 0, null).errno());
            c.write(SIZE - 1, new byte[] {9}, false);
            assertArrayEquals(new byte[] {9}, c.read(SIZE - 1, 1));
        }
    }

    @Test
    void readOverTheMaximumPayloadIsEinval() throws Exception {
        try (NbdTestClient c = client("disk")) {
            NbdTestClient.Reply r = c.call(CMD_READ, 0, 0, c.maxPayload() + 1L, null);
            assertEquals(NbdError.EINVAL, r.errno());
            assertTrue(r.structured());
            c.write(0, new byte[] {5}, false);
        }
    }

    @Test
    void oversizedWriteEndsOnlyThatConnection() throws Exception {
        try (NbdTestClient good = client("disk"); NbdTestClient bad = client("disk")) {
            bad.send(CMD_WRITE, 0, 0, bad.maxPayload() + 1L, null);
            assertTrue(bad.awaitClose());
            good.write(0, new byte[] {1}, false);
            assertArrayEquals(new byte[] {1}, good.read(0, 1));
        }
    }

    @Test
    void readOnlyExportRefusesWritesWithEperm() throws Exception {
        try (NbdTestClient c = client("ro")) {
            assertEquals(FLAG_READ_ONLY, c.transmissionFlags() & FLAG_READ_ONLY);
            assertEquals(0, c.transmissionFlags() & (FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES));
            assertEquals(NbdError.EPERM, c.call(CMD_WRITE, 0, 0, 4, new byte[4]).errno());
            assertEquals(NbdError.EPERM, c.call(CMD_TRIM, 0, 0, 4096, null).errno());
            assertEquals(NbdError.EPERM, c.call(CMD_WRITE_ZEROES, 0, 0, 4096, null).errno());
            assertArrayEquals(new byte[4], c.read(0, 4));
            c.flush();
        }
    }

    @Test
    void unknownCommandsAndFlagsAreEinval() throws Exception {
        try (NbdTestClient c = client("disk")) {
            assertEquals(NbdError.EINVAL, c.call(99, 0, 0, 0, null).errno());
            assertEquals(NbdError.EINVAL, c.call(CMD_CACHE, 0, 0, 4096, null).errno());
            assertEquals(NbdError.EINVAL, c.call(CMD_READ, CMD_FLAG_NO_HOLE, 0, 4096, null).errno());
            assertEquals(NbdError.EINVAL, c.call(CMD_WRITE_ZEROES, CMD_FLAG_FAST_ZERO, 0, 4096, null).errno());
            assertEquals(NbdError.EINVAL, c.call(CMD_FLUSH, 0x8000, 0, 0, null).errno());
            // flags a client may legitimately send
            assertEquals(0, c.call(CMD_READ, CMD_FLAG_DF | CMD_FLAG_FUA, 0, 4096, null).errno());
            assertEquals(0, c.call(CMD_FLUSH, CMD_FLAG_FUA, 0, 0, null).errno());
        }
    }

    @Test
    void exportErrorsReachTheClientAsErrno() throws Exception {
        try (NbdTestClient c = client("disk")) {
            disk.failNext = NbdError.ENOSPC;
            assertEquals(NbdError.ENOSPC, c.call(CMD_WRITE, 0, 0, 4, new byte[4]).errno());
            disk.failNext = -1;
            assertEquals(NbdError.EIO, c.call(CMD_FLUSH, 0, 0, 0, null).errno());
            disk.failNext = 1234; // not an NBD errno
            assertEquals(NbdError.EIO, c.call(CMD_TRIM, 0, 0, 4096, null).errno());
            disk.failNext = NbdError.EIO;
            NbdTestClient.Reply r = c.call(CMD_READ, 0, 0, 4096, null);
            assertEquals(NbdError.EIO, r.errno());
            assertTrue(r.structured(), "READ errors use an error chunk once structured replies are on");
            disk.failNext = NbdError.EIO;
            assertEquals(NbdError.EIO, c.call(CMD_BLOCK_STATUS, 0, 0, 4096, null).errno());
            disk.failNext = -2;
            assertEquals(NbdError.ENOMEM, c.call(CMD_WRITE, 0, 0, 4, new byte[4]).errno());
            disk.failNext = -3;
            assertEquals(NbdError.EIO, c.call(CMD_READ, 0, 0, 4, null).errno());
            assertArrayEquals(new byte[4], c.read(0, 4));
        }
    }

    @Test
    void withoutStructuredRepliesReadsUseSimpleRepliesAndBlockStatusIsRefused() throws Exception {
        try (NbdTestClient c = NbdTestClient.raw(server.tcpAddress())) {
            c.handshake("disk", false, false);
            assertFalse(c.structured());
            assertEquals(0, c.transmissionFlags() & FLAG_SEND_DF);
            c.write(4096, new byte[] {1, 2}, false);
            NbdTestClient.Reply r = c.call(CMD_READ, 0, 4096, 2, null);
            assertFalse(r.structured());
            assertArrayEquals(new byte[] {1, 2}, r.data());
            disk.failNext = NbdError.EIO;
            r = c.call(CMD_READ, 0, 0, 4096, null);
            assertEquals(NbdError.EIO, r.errno());
            assertNull(r.data(), "no payload after an error reply");
            assertEquals(NbdError.EINVAL, c.call(CMD_BLOCK_STATUS, 0, 0, 4096, null).errno());
            assertArrayEquals(new byte[] {1, 2}, c.read(4096, 2));
        }
    }

    @Test
    void repliesMayOvertakeSlowRequests() throws Exception {
        try (NbdTestClient c = client("disk")) {
            disk.gate = new java.util.concurrent.CountDownLatch(1);
            long read = c.send(CMD_READ, 0, 0, 4096, null);
            long flush = c.send(CMD_FLUSH, 0, 0, 0, null);
            assertEquals(flush, c.receive().cookie(), "the flush does not wait for the read");
            disk.gate.countDown();
            assertEquals(read, c.receive().cookie());
        }
    }

    @Test
    void manyRequestsInFlightAreBoundedAndAllComplete() throws Exception {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int n = 3 * NbdConnection.MAX_IN_FLIGHT;
        int len = 16384;
        byte[] model = new byte[n * len];
        rnd.nextBytes(model);
        try (NbdTestClient c = client("disk")) {
            java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(1);
            disk.gate = gate;
            // More requests than the server keeps in flight: it must stop reading, then go on.
            Thread sender = new Thread(() -> {
                try {
                    for (int i = 0; i < n; i++) {
                        c.send(CMD_WRITE, i % 2 == 0 ? CMD_FLAG_FUA : 0, (long) i * len, len,
                                Arrays.copyOfRange(model, i * len, (i + 1) * len));
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            sender.start();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (server.requestsInFlight() < NbdConnection.MAX_IN_FLIGHT && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            Thread.sleep(100);
            assertEquals(NbdConnection.MAX_IN_FLIGHT, server.requestsInFlight(), "seed " + seed);
            gate.countDown();
            java.util.Set<Long> seen = new java.util.HashSet<>();
            for (int i = 0; i < n; i++) {
                NbdTestClient.Reply r = c.receive();
                assertEquals(0, r.errno(), "seed " + seed);
                assertTrue(seen.add(r.cookie()), "duplicate reply, seed " + seed);
            }
            sender.join();
            disk.gate = null;
            assertArrayEquals(model, c.read(0, model.length), "seed " + seed);
            assertEquals(n / 2, disk.fuaWrites.get());
        }
    }

    @Test
    void discWaitsForRequestsInFlight() throws Exception {
        try (NbdTestClient c = client("disk")) {
            disk.gate = new java.util.concurrent.CountDownLatch(1);
            long w = c.send(CMD_WRITE, 0, 0, 3, new byte[] {4, 5, 6});
            c.send(CMD_DISC, 0, 0, 0, null);
            while (disk.waiting.get() == 0) {
                Thread.sleep(1);
            }
            disk.gate.countDown();
            NbdTestClient.Reply r = c.receive();
            assertEquals(w, r.cookie());
            assertEquals(0, r.errno());
            assertTrue(c.awaitClose());
        }
        disk.gate = null;
        assertArrayEquals(new byte[] {4, 5, 6}, Arrays.copyOf(disk.snapshot(), 3));
    }

    @Test
    void manyConnectionsToOneExportSeeEachOthersFlushedWrites() throws Exception {
        long seed = new Random().nextLong();
        int clients = 6;
        int perClient = 40;
        int len = 8192;
        List<Thread> threads = new java.util.ArrayList<>();
        List<Throwable> errors = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        byte[][] data = new byte[clients * perClient][];
        Random rnd = new Random(seed);
        for (int i = 0; i < data.length; i++) {
            data[i] = new byte[len];
            rnd.nextBytes(data[i]);
        }
        for (int t = 0; t < clients; t++) {
            int first = t * perClient;
            threads.add(new Thread(() -> {
                try (NbdTestClient c = client("disk")) {
                    // pipelined: all writes out, then all replies, then one flush
                    for (int i = first; i < first + perClient; i++) {
                        c.send(CMD_WRITE, 0, (long) i * len, len, data[i]);
                    }
                    for (int i = 0; i < perClient; i++) {
                        assertEquals(0, c.receive().errno());
                    }
                    c.flush();
                } catch (Throwable e) {
                    errors.add(e);
                }
            }));
        }
        threads.forEach(Thread::start);
        for (Thread t : threads) {
            t.join();
        }
        assertEquals(List.of(), errors, "seed " + seed);
        try (NbdTestClient c = client("disk")) {
            for (int i = 0; i < data.length; i++) {
                assertArrayEquals(data[i], c.read((long) i * len, len), "block " + i + ", seed " + seed);
            }
        }
        // the last reply's write listener may run just after the client has read it
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (server.requestsInFlight() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(0, server.requestsInFlight());
    }
}
