package io.qjournal.daemon.nbd;

import static io.qjournal.daemon.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

import io.netty.buffer.PoolArenaMetric;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Seeded fuzzer: thousands of malformed handshakes and requests, each on its own connection,
 * while a well-behaved client keeps working on another export. The server must stay up, close
 * every bad connection, and hold no more memory afterwards than a bounded amount.
 * Reproduce a failure with -Dnbd.fuzz.seed=SEED.
 */
class NbdFuzzTest {
    static final int CASES = 1500;
    static final int SIZE = 4 << 20;
    static final int MAX_PAYLOAD = 1 << 20;

    @Test
    void malformedInputNeverTakesTheServerDown() throws Exception {
        long seed = Long.getLong("nbd.fuzz.seed", new Random().nextLong());
        try {
            run(seed);
        } catch (Throwable t) {
            throw new AssertionError("NBD fuzz failed; reproduce with -Dnbd.fuzz.seed=" + seed + ": " + t, t);
        }
    }

    private void run(long seed) throws Exception {
        Random rnd = new Random(seed);
        MemoryExport fuzz = new MemoryExport("fuzz", SIZE, false);
        MemoryExport good = new MemoryExport("good", SIZE, false);
        MemoryExports exports = new MemoryExports().add(fuzz).add(good);
        NbdServer.Config config = new NbdServer.Config(new InetSocketAddress("127.0.0.1", 0), null, 64, MAX_PAYLOAD, 4,
                l -> { });
        try (NbdServer server = new NbdServer(exports, config)) {
            server.start();
            InetSocketAddress addr = server.tcpAddress();
            byte[] model = new byte[SIZE];
            try (NbdTestClient client = NbdTestClient.connect(addr, "good")) {
                for (int i = 0; i < 100; i++) {
                    oneCase(addr, rnd, i);
                }
                awaitQuiet(server);
                long before = activeAllocations();
                long directBefore = PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory();
                // Two fuzzers at once, each with its own seeded generator, while the good client works.
                List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
                List<Thread> fuzzers = new ArrayList<>();
                for (int t = 0; t < 2; t++) {
                    Random own = new Random(seed + 1 + t);
                    int first = 100 + t * (CASES - 100) / 2;
                    int end = 100 + (t + 1) * (CASES - 100) / 2;
                    fuzzers.add(new Thread(() -> {
                        try {
                            for (int i = first; i < end; i++) {
                                oneCase(addr, own, i);
                            }
                        } catch (Throwable e) {
                            failures.add(e);
                        }
                    }, "fuzzer-" + t));
                }
                fuzzers.forEach(Thread::start);
                int rounds = 0;
                while (fuzzers.stream().anyMatch(Thread::isAlive)) {
                    wellBehaved(client, rnd, model);
                    rounds++;
                }
                for (Thread f : fuzzers) {
                    f.join();
                }
                if (!failures.isEmpty()) {
                    throw new AssertionError(failures.get(0));
                }
                assertTrue(rounds > 0);
                wellBehaved(client, rnd, model);
                awaitQuiet(server);
                long after = activeAllocations();
                // Pools and thread caches keep some buffers; a leak per malformed case would not fit.
                assertTrue(after - before < 256, "pooled allocations grew from " + before + " to " + after);
                long directAfter = PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory();
                assertTrue(directAfter - directBefore <= 64L << 20,
                        "pooled direct memory grew from " + directBefore + " to " + directAfter);
                assertEquals(1, server.connections(), "only the well-behaved client is left");
            }
        }
    }

    private static void wellBehaved(NbdTestClient c, Random rnd, byte[] model) throws IOException {
        int off = rnd.nextInt(SIZE - 8192);
        byte[] d = new byte[1 + rnd.nextInt(8192)];
        rnd.nextBytes(d);
        c.write(off, d, rnd.nextBoolean());
        System.arraycopy(d, 0, model, off, d.length);
        c.flush();
        int roff = rnd.nextInt(SIZE - 65536);
        assertArrayEquals(Arrays.copyOfRange(model, roff, roff + 65536), c.read(roff, 65536));
    }

    private static void awaitQuiet(NbdServer server) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while ((server.connections() > 1 || server.requestsInFlight() > 0 || server.bufferedBytes() > 0)
                && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(1, server.connections(), "fuzz connections all closed");
        assertEquals(0, server.requestsInFlight());
        assertEquals(0, server.bufferedBytes(), "every reservation released");
    }

    private static long activeAllocations() {
        long n = 0;
        for (PoolArenaMetric a : PooledByteBufAllocator.DEFAULT.metric().directArenas()) {
            n += a.numActiveAllocations();
        }
        for (PoolArenaMetric a : PooledByteBufAllocator.DEFAULT.metric().heapArenas()) {
            n += a.numActiveAllocations();
        }
        return n;
    }

    /** One malformed session: send the bytes, end our side, and expect the server to close. */
    private static void oneCase(InetSocketAddress addr, Random rnd, int index) throws IOException {
        byte[] bytes = generate(rnd);
        boolean abrupt = rnd.nextInt(8) == 0;
        try (Socket s = new Socket()) {
            s.connect(addr, 5000);
            s.setSoTimeout(10_000);
            try {
                s.getOutputStream().write(bytes);
                s.getOutputStream().flush();
                if (abrupt) {
                    s.setSoLinger(true, 0); // RST instead of FIN: a client that vanishes
                    return;
                }
                s.shutdownOutput();
            } catch (IOException e) {
                return; // the server already closed on us: fine
            }
            drainUntilClosed(s.getInputStream(), index);
        }
    }

    private static void drainUntilClosed(InputStream in, int index) throws IOException {
        byte[] buf = new byte[65536];
        try {
            while (in.read(buf) >= 0) {
                // replies and errors are allowed, only the close matters
            }
        } catch (SocketTimeoutException e) {
            fail("case " + index + ": server kept the connection open after the client's EOF");
        } catch (IOException e) {
            // reset by the server: closed
        }
    }

    // ---- generators ----

    static byte[] generate(Random rnd) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bos);
        int kind = rnd.nextInt(10);
        switch (kind) {
            case 0 -> out.write(randomBytes(rnd, rnd.nextInt(300)));
            case 1 -> {
                out.writeInt(rnd.nextInt(4) == 0 ? rnd.nextInt() : rnd.nextInt(4));
                options(out, rnd, 1 + rnd.nextInt(6));
            }
            case 2, 3 -> {
                handshake(out, rnd);
                requests(out, rnd, 1 + rnd.nextInt(20));
            }
            case 4 -> {
                handshake(out, rnd);
                garbageRequest(out, rnd);
            }
            default -> {
                out.writeInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
                options(out, rnd, 1 + rnd.nextInt(4));
                if (rnd.nextBoolean()) {
                    handshake(out, rnd);
                    requests(out, rnd, rnd.nextInt(5));
                }
            }
        }
        byte[] b = bos.toByteArray();
        if (rnd.nextInt(4) == 0 && b.length > 0) {
            b = Arrays.copyOf(b, rnd.nextInt(b.length)); // cut anywhere: half headers, half payloads
        }
        if (rnd.nextInt(6) == 0 && b.length > 0) {
            for (int i = 0, n = 1 + rnd.nextInt(4); i < n; i++) {
                b[rnd.nextInt(b.length)] ^= (byte) (1 << rnd.nextInt(8)); // flip bits
            }
        }
        return b;
    }

    private static byte[] randomBytes(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    private static String name(Random rnd) {
        return switch (rnd.nextInt(5)) {
            case 0 -> "";
            case 1 -> "nope";
            case 2 -> new String(randomBytes(rnd, rnd.nextInt(40)), StandardCharsets.ISO_8859_1);
            default -> "fuzz";
        };
    }

    private static void option(DataOutputStream out, int opt, byte[] data, Random rnd) throws IOException {
        out.writeLong(rnd.nextInt(50) == 0 ? rnd.nextLong() : IHAVEOPT);
        out.writeInt(opt);
        int len = data.length;
        switch (rnd.nextInt(12)) {
            case 0 -> len = rnd.nextInt();
            case 1 -> len = data.length + 1 + rnd.nextInt(100);
            case 2 -> len = Math.max(0, data.length - 1 - rnd.nextInt(4));
            default -> {
            }
        }
        out.writeInt(len);
        out.write(data);
    }

    private static void options(DataOutputStream out, Random rnd, int count) throws IOException {
        for (int i = 0; i < count; i++) {
            int opt = rnd.nextInt(6) == 0 ? rnd.nextInt() : 1 + rnd.nextInt(12);
            option(out, opt, optionData(rnd, opt), rnd);
        }
    }

    private static byte[] optionData(Random rnd, int opt) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(bos);
        byte[] n = name(rnd).getBytes(StandardCharsets.UTF_8);
        switch (opt) {
            case OPT_GO, OPT_INFO -> {
                d.writeInt(rnd.nextInt(10) == 0 ? rnd.nextInt() : n.length);
                d.write(n);
                int count = rnd.nextInt(10) == 0 ? rnd.nextInt(65536) : rnd.nextInt(5);
                d.writeShort(count);
                for (int i = 0; i < Math.min(count, 8); i++) {
                    d.writeShort(rnd.nextInt(6));
                }
            }
            case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> {
                d.writeInt(rnd.nextInt(10) == 0 ? rnd.nextInt() : n.length);
                d.write(n);
                int q = rnd.nextInt(10) == 0 ? rnd.nextInt() : rnd.nextInt(4);
                d.writeInt(q);
                for (int i = 0; i < Math.min(Math.abs(q), 4); i++) {
                    byte[] qs = (rnd.nextBoolean() ? BASE_ALLOCATION : name(rnd)).getBytes(StandardCharsets.UTF_8);
                    d.writeInt(rnd.nextInt(10) == 0 ? rnd.nextInt() : qs.length);
                    d.write(qs);
                }
            }
            case OPT_EXPORT_NAME -> d.write(n);
            default -> d.write(randomBytes(rnd, rnd.nextInt(3) == 0 ? rnd.nextInt(64) : 0));
        }
        return bos.toByteArray();
    }

    /** A valid handshake (structured or not, meta or not) ending with GO or EXPORT_NAME on "fuzz". */
    private static void handshake(DataOutputStream out, Random rnd) throws IOException {
        out.writeInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
        byte[] n = "fuzz".getBytes(StandardCharsets.UTF_8);
        if (rnd.nextBoolean()) {
            out.writeLong(IHAVEOPT);
            out.writeInt(OPT_STRUCTURED_REPLY);
            out.writeInt(0);
            byte[] q = NbdTestClient.metaContextData("fuzz", BASE_ALLOCATION);
            out.writeLong(IHAVEOPT);
            out.writeInt(OPT_SET_META_CONTEXT);
            out.writeInt(q.length);
            out.write(q);
        }
        out.writeLong(IHAVEOPT);
        if (rnd.nextBoolean()) {
            out.writeInt(OPT_GO);
            out.writeInt(4 + n.length + 2);
            out.writeInt(n.length);
            out.write(n);
            out.writeShort(0);
        } else {
            out.writeInt(OPT_EXPORT_NAME);
            out.writeInt(n.length);
            out.write(n);
        }
    }

    private static long edgeOffset(Random rnd) {
        return switch (rnd.nextInt(8)) {
            case 0 -> rnd.nextLong();
            case 1 -> SIZE - rnd.nextInt(4096);
            case 2 -> SIZE;
            case 3 -> Long.MAX_VALUE - rnd.nextInt(10);
            case 4 -> -1L - rnd.nextInt(4096);
            default -> rnd.nextInt(SIZE);
        };
    }

    private static long edgeLength(Random rnd) {
        return switch (rnd.nextInt(8)) {
            case 0 -> rnd.nextInt() & 0xffffffffL;
            case 1 -> 0;
            case 2 -> MAX_PAYLOAD + rnd.nextInt(3);
            case 3 -> 0xffffffffL;
            default -> rnd.nextInt(65536);
        };
    }

    private static void requests(DataOutputStream out, Random rnd, int count) throws IOException {
        for (int i = 0; i < count; i++) {
            int type = rnd.nextInt(8) == 0 ? rnd.nextInt(65536) : rnd.nextInt(9);
            int flags = rnd.nextInt(4) == 0 ? rnd.nextInt(65536) : rnd.nextInt(32);
            long offset = edgeOffset(rnd);
            long length = edgeLength(rnd);
            out.writeInt(rnd.nextInt(100) == 0 ? rnd.nextInt() : REQUEST_MAGIC);
            out.writeShort(flags);
            out.writeShort(type);
            out.writeLong(rnd.nextLong());
            out.writeLong(offset);
            out.writeInt((int) length);
            if (type == CMD_WRITE) {
                // send the announced payload (or less: the session is then cut mid-payload)
                long send = Math.min(length, rnd.nextInt(10) == 0 ? rnd.nextInt(100) : length);
                out.write(randomBytes(rnd, (int) Math.min(send, 2 * MAX_PAYLOAD)));
            }
        }
    }

    private static void garbageRequest(DataOutputStream out, Random rnd) throws IOException {
        out.write(randomBytes(rnd, 1 + rnd.nextInt(60)));
    }
}
