package io.qjournal.daemon.nbd;

import static io.qjournal.daemon.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Listeners, connection limits, run-time export removal and shutdown. */
class NbdLifecycleTest {
    private final MemoryExport disk = new MemoryExport("disk", 1 << 20, false);
    private final MemoryExport other = new MemoryExport("other", 1 << 20, false);
    private final MemoryExports exports = new MemoryExports().add(disk).add(other);
    private final List<String> log = Collections.synchronizedList(new ArrayList<>());
    private final List<NbdServer> servers = new ArrayList<>();

    @TempDir
    Path tmp;

    private NbdServer start(NbdServer.Config config) throws IOException {
        NbdServer s = new NbdServer(exports, config.withLog(log::add));
        servers.add(s);
        s.start();
        return s;
    }

    private static NbdServer.Config tcp() {
        return NbdServer.Config.defaults(new InetSocketAddress("127.0.0.1", 0));
    }

    @AfterEach
    void stop() {
        servers.forEach(NbdServer::close);
    }

    private static void waitFor(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        waitFor(condition, () -> what);
    }

    private static void waitFor(java.util.function.BooleanSupplier condition,
                                java.util.function.Supplier<String> what) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out waiting for " + what.get());
            }
            Thread.sleep(5);
        }
    }

    @Test
    void unixSocketServesAndReplacesAStaleSocketFile() throws Exception {
        Path sock = tmp.resolve("nbd.sock");
        // A socket file left behind by a killed process.
        try (ServerSocketChannel stale = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            stale.bind(UnixDomainSocketAddress.of(sock));
        }
        assertTrue(Files.exists(sock));
        NbdServer s = start(new NbdServer.Config(null, sock, 16, 1 << 20, 4, l -> { }));
        assertNull(s.tcpAddress());
        try (NbdTestClient c = NbdTestClient.connectUnix(sock, "disk")) {
            c.write(10, new byte[] {1, 2}, true);
            assertArrayEquals(new byte[] {1, 2}, c.read(10, 2));
            assertEquals(1 << 20, c.maxPayload());
        }
        s.close();
        assertFalse(Files.exists(sock), "socket file removed at shutdown");
    }

    @Test
    void aRegularFileInTheSocketsPlaceIsNotDeleted() throws Exception {
        Path file = tmp.resolve("not-a-socket");
        Files.writeString(file, "keep me");
        IOException e = assertThrows(IOException.class,
                () -> start(new NbdServer.Config(null, file, 16, 1 << 20, 4, l -> { })));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertEquals("keep me", Files.readString(file));
    }

    @Test
    void bindFailureNamesTheAddress() throws Exception {
        NbdServer first = start(tcp());
        int port = first.tcpAddress().getPort();
        NbdServer second = new NbdServer(exports, NbdServer.Config.defaults(new InetSocketAddress("127.0.0.1", port)));
        IOException e = assertThrows(IOException.class, second::start);
        assertTrue(e.getMessage().contains("127.0.0.1") && e.getMessage().contains(String.valueOf(port)), e.getMessage());
        second.close();
        try (NbdTestClient c = NbdTestClient.connect(first.tcpAddress(), "disk")) {
            c.flush();
        }
    }

    @Test
    void connectionsBeyondTheLimitAreRefused() throws Exception {
        NbdServer s = start(new NbdServer.Config(new InetSocketAddress("127.0.0.1", 0), null, 2, 1 << 20, 2, l -> { }));
        try (NbdTestClient a = NbdTestClient.connect(s.tcpAddress(), "disk");
             NbdTestClient b = NbdTestClient.connect(s.tcpAddress(), "other")) {
            assertEquals(2, s.connections());
            try (NbdTestClient c = NbdTestClient.raw(s.tcpAddress())) {
                assertTrue(c.awaitClose(), "third connection closed at once");
            }
            a.flush();
            b.flush();
            assertTrue(log.stream().anyMatch(l -> l.contains("refused")), log.toString());
        }
        waitFor(() -> s.connections() == 0, "connections to close");
        try (NbdTestClient c = NbdTestClient.connect(s.tcpAddress(), "disk")) {
            c.flush();
        }
    }

    @Test
    void disconnectClosesOnlyTheClientsOfThatExport() throws Exception {
        NbdServer s = start(tcp());
        try (NbdTestClient a = NbdTestClient.connect(s.tcpAddress(), "disk");
             NbdTestClient b = NbdTestClient.connect(s.tcpAddress(), "disk");
             NbdTestClient o = NbdTestClient.connect(s.tcpAddress(), "other")) {
            waitFor(() -> disk.clients.get() == 2, "two clients on disk");
            s.disconnect("disk");
            assertTrue(a.awaitClose());
            assertTrue(b.awaitClose());
            waitFor(() -> disk.clients.get() == 0, "clients detached");
            o.write(0, new byte[] {3}, false);
            assertArrayEquals(new byte[] {3}, o.read(0, 1));
            assertEquals(1, other.clients.get());
        }
    }

    @Test
    void disconnectWaitsForExportCallsInFlight() throws Exception {
        NbdServer s = start(tcp());
        CountDownLatch gate = new CountDownLatch(1);
        try (NbdTestClient a = NbdTestClient.connect(s.tcpAddress(), "disk")) {
            disk.gate = gate;
            a.send(CMD_WRITE, 0, 0, 2, new byte[] {1, 1});
            waitFor(() -> disk.waiting.get() == 1, "the write to reach the export");
            Thread opener = new Thread(() -> {
                try {
                    Thread.sleep(200);
                } catch (InterruptedException ignored) {
                    // opens at once
                }
                gate.countDown();
            });
            opener.start();
            s.disconnect("disk");
            // disconnect returned: the write has left the export
            assertEquals(0, disk.waiting.get());
            assertArrayEquals(new byte[] {1, 1}, java.util.Arrays.copyOf(disk.snapshot(), 2));
            opener.join();
        }
    }

    @Test
    void shutdownFinishesRequestsInFlightThenCloses() throws Exception {
        NbdServer s = start(tcp());
        InetSocketAddress addr = s.tcpAddress();
        CountDownLatch gate = new CountDownLatch(1);
        try (NbdTestClient a = NbdTestClient.connect(addr, "disk");
             NbdTestClient idle = NbdTestClient.connect(addr, "other");
             NbdTestClient haggling = NbdTestClient.raw(addr)) {
            haggling.greet();
            disk.gate = gate;
            long w = a.send(CMD_WRITE, CMD_FLAG_FUA, 100, 1, new byte[] {9});
            waitFor(() -> disk.waiting.get() == 1, "the write to reach the export");
            Thread stopper = new Thread(() -> s.shutdown(Duration.ofSeconds(20)));
            stopper.start();
            assertTrue(idle.awaitClose(), "an idle client is closed at once");
            assertTrue(haggling.awaitClose(), "a client in the handshake is closed at once");
            Thread.sleep(100);
            assertTrue(stopper.isAlive(), "shutdown waits for the write in flight");
            gate.countDown();
            NbdTestClient.Reply r = a.receive();
            assertEquals(w, r.cookie());
            assertEquals(0, r.errno());
            assertTrue(a.awaitClose());
            stopper.join(10_000);
            assertFalse(stopper.isAlive());
        }
        assertEquals(0, s.connections());
        assertThrows(ConnectException.class, () -> NbdTestClient.raw(addr).close());
    }

    @Test
    void shutdownGivesUpAfterTheGracePeriod() throws Exception {
        NbdServer s = start(tcp());
        CountDownLatch gate = new CountDownLatch(1);
        try (NbdTestClient a = NbdTestClient.connect(s.tcpAddress(), "disk")) {
            disk.gate = gate;
            a.send(CMD_READ, 0, 0, 1, null);
            waitFor(() -> disk.waiting.get() == 1, "the read to reach the export");
            s.shutdown(Duration.ofMillis(200));
            assertTrue(a.awaitClose(), "closed although the read never finished");
        } finally {
            gate.countDown();
        }
        assertTrue(log.stream().anyMatch(l -> l.contains("grace")), log.toString());
    }

    @Test
    void stopAcceptingKeepsExistingConnections() throws Exception {
        NbdServer s = start(tcp());
        InetSocketAddress addr = s.tcpAddress();
        try (NbdTestClient a = NbdTestClient.connect(addr, "disk")) {
            s.stopAccepting();
            assertThrows(ConnectException.class, () -> NbdTestClient.raw(addr).close());
            a.write(0, new byte[] {1}, false);
            assertEquals(1, s.connections());
        }
    }

    @Test
    void theSharedPoolBoundsWhatAllConnectionsHold() throws Exception {
        NbdServer s = start(tcp());
        int len = 1 << 20;
        long pool = 2L * len;
        s.bufferPool().setCapacity(pool); // room for about two writes in flight over all clients
        CountDownLatch gate = new CountDownLatch(1);
        disk.gate = gate;
        int perClient = 8;
        try (NbdTestClient a = NbdTestClient.connect(s.tcpAddress(), "disk");
             NbdTestClient b = NbdTestClient.connect(s.tcpAddress(), "disk")) {
            List<Thread> senders = new ArrayList<>();
            for (NbdTestClient c : List.of(a, b)) {
                Thread t = new Thread(() -> {
                    try {
                        for (int i = 0; i < perClient; i++) {
                            c.send(CMD_WRITE, 0, 0, len, new byte[len]);
                        }
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                });
                t.start();
                senders.add(t);
            }
            waitFor(() -> s.requestsInFlight() >= 2, "writes in flight");
            Thread.sleep(300);
            long bound = 2 * (NbdLimits.GUARANTEED_BYTES + ConnectionMemory.MIN_READ) + pool;
            assertTrue(s.bufferedBytes() <= bound, s.bufferedBytes() + " > " + bound + ": " + s.describeMemory());
            assertTrue(s.bufferPool().lent() <= pool, s.bufferPool().lent() + " lent");
            // two running, and per client one header whose payload waits for room
            assertTrue(s.requestsInFlight() <= 4, s.requestsInFlight() + " requests in flight");
            gate.countDown();
            for (NbdTestClient c : List.of(a, b)) {
                for (int i = 0; i < perClient; i++) {
                    assertEquals(0, c.receive().errno());
                }
            }
            for (Thread t : senders) {
                t.join();
            }
        }
        waitFor(() -> s.bufferedBytes() == 0 && s.bufferPool().lent() == 0, "every byte given back");
    }

    @Test
    void aRequestCutOffMidPayloadReleasesItsReservation() throws Exception {
        NbdServer s = start(tcp());
        try (NbdTestClient c = NbdTestClient.connect(s.tcpAddress(), "disk")) {
            c.send(CMD_WRITE, 0, 0, 100_000, new byte[1000]); // 99,000 bytes never come
            waitFor(() -> s.bufferedBytes() > 0, "the payload's reservation");
        }
        waitFor(() -> s.connections() == 0 && s.bufferedBytes() == 0 && s.requestsInFlight() == 0,
                "the reservation to be released");
    }

    @Test
    void shutdownDoesNotWaitForAPayloadThatNeverComes() throws Exception {
        NbdServer s = start(tcp());
        try (NbdTestClient c = NbdTestClient.connect(s.tcpAddress(), "disk")) {
            c.send(CMD_WRITE, 0, 0, 100_000, new byte[10]);
            waitFor(() -> s.bufferedBytes() > 0, "the payload's reservation");
            Thread stopper = new Thread(() -> s.shutdown(Duration.ofSeconds(60)));
            stopper.start();
            assertTrue(c.awaitClose(), "closed without waiting for the grace period");
            stopper.join(20_000);
            assertFalse(stopper.isAlive(), "shutdown returned");
        }
    }

    @Test
    void aClientStuckInTheHandshakeIsDisconnected() throws Exception {
        NbdServer s = start(tcp());
        s.setHandshakeTimeout(Duration.ofMillis(300));
        try (NbdTestClient slow = NbdTestClient.raw(s.tcpAddress());
             NbdTestClient fast = NbdTestClient.connect(s.tcpAddress(), "disk")) {
            slow.greet();
            assertTrue(slow.awaitClose(), "closed by the handshake timeout");
            Thread.sleep(400);
            fast.write(0, new byte[] {1}, false); // the timeout does not touch a client in transmission
            assertArrayEquals(new byte[] {1}, fast.read(0, 1));
            assertTrue(log.stream().anyMatch(l -> l.contains("handshake not finished")), log.toString());
        }
    }

    @Test
    void aClientThatNeverReadsItsRepliesHoldsBoundedMemory() throws Exception {
        int len = 4 << 20;
        exports.add(new MemoryExport("big", len, false));
        NbdServer s = start(tcp());
        NbdTestClient c = NbdTestClient.connect(s.tcpAddress(), "big");
        c.socket().setReceiveBufferSize(65536);
        Thread sender = new Thread(() -> {
            try {
                for (int i = 0; i < 500; i++) {
                    c.send(CMD_READ, 0, 0, len, null);
                }
            } catch (IOException e) {
                // closed below while blocked: expected
            }
        });
        sender.start();
        try {
            waitFor(() -> s.requestsInFlight() >= 8, () -> "replies to pile up (in flight " + s.requestsInFlight()
                    + ", reserved " + s.bufferedBytes() + ", log " + log + ")");
            Thread.sleep(300);
            long perConnection = NbdLimits.CONNECTION_BYTES;
            assertTrue(s.bufferedBytes() <= perConnection, s.bufferedBytes() + " bytes reserved");
            assertTrue(s.requestsInFlight() <= perConnection / len, s.requestsInFlight() + " requests in flight");
        } finally {
            c.close();
            sender.join(10_000);
        }
        waitFor(() -> s.connections() == 0 && s.bufferedBytes() == 0, "everything released");
    }

    @Test
    void theNioTransportServesTcpAndUnixSockets() throws Exception {
        Path sock = tmp.resolve("nio.sock");
        NbdServer s = new NbdServer(exports, tcp().withUnixSocket(sock).withLog(log::add), false);
        servers.add(s);
        s.start();
        assertTrue(log.stream().anyMatch(l -> l.contains("(nio)")), log.toString());
        try (NbdTestClient t = NbdTestClient.connect(s.tcpAddress(), "disk");
             NbdTestClient u = NbdTestClient.connectUnix(sock, "disk")) {
            byte[] d = new byte[100_000];
            new java.util.Random(3).nextBytes(d);
            t.write(4096, d, true);
            assertArrayEquals(d, u.read(4096, d.length));
            u.trim(0, 1 << 20, false);
            assertEquals(3, t.blockStatus(0, 4096, true).get(0)[1]);
        }
        s.close();
        assertFalse(Files.exists(sock));
    }

    @Test
    void anExportRemovedDuringTheHandshakeIsNotEntered() throws Exception {
        // The lookup finds the export, but by the time the client would enter transmission it is gone.
        NbdExports flaky = new NbdExports() {
            private int lookups;

            @Override
            public synchronized NbdExport find(String name) {
                return lookups++ == 0 ? disk : null;
            }

            @Override
            public java.util.Collection<NbdExport> list() {
                return List.of(disk);
            }
        };
        NbdServer s = new NbdServer(flaky, tcp().withLog(log::add));
        servers.add(s);
        s.start();
        try (NbdTestClient c = NbdTestClient.raw(s.tcpAddress())) {
            c.greet();
            c.sendOption(OPT_EXPORT_NAME, "disk".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            assertTrue(c.awaitClose());
        }
        waitFor(() -> s.connections() == 0, "the connection to close");
        assertEquals(0, disk.clients.get(), "never attached, never detached");
        assertTrue(log.stream().anyMatch(l -> l.contains("closed during the handshake")), log.toString());
    }

    @Test
    void aSocketAnotherServerListensOnIsNotTaken() throws Exception {
        Path sock = tmp.resolve("busy.sock");
        NbdServer first = start(new NbdServer.Config(null, sock, 16, 1 << 20, 2, l -> { }));
        IOException e = assertThrows(IOException.class,
                () -> start(new NbdServer.Config(null, sock, 16, 1 << 20, 2, l -> { })));
        assertTrue(e.getMessage().contains("another server"), e.getMessage());
        try (NbdTestClient c = NbdTestClient.connectUnix(sock, "disk")) {
            c.flush(); // the first server still owns its socket
        }
        first.close();
    }
}
