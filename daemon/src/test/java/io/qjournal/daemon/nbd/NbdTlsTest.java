package io.qjournal.daemon.nbd;

import static io.qjournal.daemon.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

import io.qjournal.daemon.nbd.NbdTestClient.OptionReply;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * NBD_OPT_STARTTLS as the NBD spec's FORCEDTLS mode has it, against a real server in this JVM
 * and a raw client that upgrades its socket with the JDK's TLS: options before TLS are refused
 * with NBD_REP_ERR_TLS_REQD, NBD_OPT_EXPORT_NAME before TLS ends the session, and after the
 * handshake everything works as without TLS. With verify-peer, a client without a certificate
 * signed by the CA gets no further than the TLS handshake.
 */
@Timeout(60)
class NbdTlsTest {
    @TempDir
    static Path certRoot;
    static TlsTestCerts certs;

    private final MemoryExport disk = new MemoryExport("disk", 8 << 20, false);
    private final Queue<String> log = new ConcurrentLinkedQueue<>();
    private NbdServer server;

    @BeforeAll
    static void makeCertificates() throws IOException {
        certs = TlsTestCerts.create(certRoot, TlsTestCerts.KeyForm.EC_PKCS8);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private void start(boolean verifyPeer, Path unixSocket) throws IOException {
        NbdTls tls = NbdTls.load(certs.serverDir, verifyPeer);
        NbdServer.Config config = NbdServer.Config.defaults(new InetSocketAddress("127.0.0.1", 0))
                .withLog(log::add).withTls(tls);
        if (unixSocket != null) {
            config = config.withUnixSocket(unixSocket);
        }
        server = new NbdServer(new MemoryExports().add(disk), config);
        server.start();
    }

    private NbdTestClient greeted() throws IOException {
        NbdTestClient c = NbdTestClient.raw(server.tcpAddress());
        c.greet();
        return c;
    }

    private static byte[] goData(String name) {
        byte[] n = name.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        return java.nio.ByteBuffer.allocate(6 + n.length).putInt(n.length).put(n).putShort((short) 0).array();
    }

    private void awaitLog(String text) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (log.stream().noneMatch(l -> l.contains(text))) {
            assertTrue(System.nanoTime() < deadline, "no log line with '" + text + "': " + log);
            Thread.sleep(20);
        }
    }

    @Test
    void everyOptionBeforeStartTlsIsAnsweredTlsRequired() throws Exception {
        start(false, null);
        try (NbdTestClient c = greeted()) {
            int[] options = {OPT_LIST, OPT_INFO, OPT_GO, OPT_STRUCTURED_REPLY, OPT_LIST_META_CONTEXT,
                OPT_SET_META_CONTEXT, OPT_EXTENDED_HEADERS, 42};
            for (int opt : options) {
                byte[] data = opt == OPT_INFO || opt == OPT_GO ? goData("disk") : new byte[0];
                List<OptionReply> r = c.option(opt, data);
                assertEquals(1, r.size(), "option " + opt);
                assertEquals(REP_ERR_TLS_REQD, r.get(0).type(), "option " + opt);
                assertEquals(opt, r.get(0).option());
            }
            // Refused options leave the session usable: TLS, then the export, data and all.
            c.startTls(certs.clientContext(false));
            c.negotiate("disk", true, true);
            byte[] data = new byte[65536];
            new java.util.Random(7).nextBytes(data);
            c.write(4096, data, true);
            assertArrayEquals(data, c.read(4096, data.length));
            c.disconnect();
        }
        assertTrue(log.stream().anyMatch(l -> l.contains("TLS established (TLSv1.3")), log.toString());
    }

    @Test
    void exportNameBeforeTlsEndsTheSession() throws Exception {
        start(false, null);
        try (NbdTestClient c = greeted()) {
            c.sendOption(OPT_EXPORT_NAME, "disk".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            assertTrue(c.awaitClose(), "server did not close the connection");
        }
        assertTrue(log.stream().anyMatch(l -> l.contains("NBD_OPT_EXPORT_NAME before TLS")), log.toString());
        assertFalse(log.stream().anyMatch(l -> l.contains("uses export")), log.toString());
    }

    @Test
    void abortIsAllowedBeforeTls() throws Exception {
        start(false, null);
        try (NbdTestClient c = greeted()) {
            assertEquals(REP_ACK, c.option(OPT_ABORT, new byte[0]).get(0).type());
            assertTrue(c.awaitClose());
        }
    }

    @Test
    void startTlsTwiceOrWithDataIsInvalid() throws Exception {
        start(false, null);
        try (NbdTestClient c = greeted()) {
            assertEquals(REP_ERR_INVALID, c.option(OPT_STARTTLS, new byte[] {1}).get(0).type());
            c.startTls(certs.clientContext(false));
            OptionReply again = c.option(OPT_STARTTLS, new byte[0]).get(0);
            assertEquals(REP_ERR_INVALID, again.type());
            // and no NBD_REP_ERR_TLS_REQD once TLS is up
            assertEquals(REP_ACK, c.option(OPT_STRUCTURED_REPLY, new byte[0]).get(0).type());
            c.go("disk");
        }
    }

    @Test
    void plainTextAfterTheAckIsNotTakenAsOptions() throws Exception {
        start(false, null);
        try (NbdTestClient c = greeted()) {
            assertEquals(REP_ACK, c.option(OPT_STARTTLS, new byte[0]).get(0).type());
            // A client that ignores the ACK and goes on in plain text: the server expects a ClientHello.
            c.sendOption(OPT_GO, goData("disk"));
            assertTrue(c.awaitClose(), "server did not close the connection");
        }
        assertFalse(log.stream().anyMatch(l -> l.contains("uses export")), log.toString());
    }

    @Test
    void optionsPipelinedBehindStartTlsEndTheSession() throws Exception {
        start(false, null);
        try (NbdTestClient c = greeted()) {
            java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
            java.io.DataOutputStream o = new java.io.DataOutputStream(b);
            o.writeLong(IHAVEOPT);
            o.writeInt(OPT_STARTTLS);
            o.writeInt(0);
            o.writeLong(IHAVEOPT);
            o.writeInt(OPT_LIST);
            o.writeInt(0);
            c.sendRaw(b.toByteArray());
            assertTrue(c.awaitClose(), "server did not close the connection");
        }
        // Loopback delivers the one write in one read; were it split, the LIST bytes would fail the TLS handshake.
        assertTrue(log.stream().anyMatch(l -> l.contains("after NBD_OPT_STARTTLS before its reply")
                || l.contains(": TLS: ")), log.toString());
        assertFalse(log.stream().anyMatch(l -> l.contains("TLS established")), log.toString());
    }

    @Test
    void verifyPeerRefusesAClientWithoutCertificate() throws Exception {
        start(true, null);
        try (NbdTestClient c = greeted()) {
            // Under TLS 1.3 the client may finish its side before the server's alert arrives:
            // the refusal shows at the latest on the first read.
            assertThrows(IOException.class, () -> {
                c.startTls(certs.clientContext(false));
                c.go("disk");
            });
        }
        assertFalse(log.stream().anyMatch(l -> l.contains("uses export")), log.toString());
        awaitLog(": TLS: ");
    }

    @Test
    void verifyPeerAcceptsAClientCertificateSignedByTheCa() throws Exception {
        start(true, null);
        try (NbdTestClient c = greeted()) {
            c.startTls(certs.clientContext(true));
            c.negotiate("disk", true, false);
            c.write(0, new byte[] {1, 2, 3, 4}, false);
            assertArrayEquals(new byte[] {1, 2, 3, 4}, c.read(0, 4));
        }
        assertTrue(log.stream().anyMatch(l -> l.contains("client 'CN=qjournal test client'")), log.toString());
    }

    @Test
    void unixSocketRequiresTlsToo(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("nbd.sock");
        start(false, sock);
        try (NbdTestClient c = NbdTestClient.rawUnix(sock)) {
            c.greet();
            assertEquals(REP_ERR_TLS_REQD, c.option(OPT_GO, goData("disk")).get(0).type());
            c.sendOption(OPT_EXPORT_NAME, "disk".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            assertTrue(c.awaitClose());
        }
        assertFalse(log.stream().anyMatch(l -> l.contains("uses export")), log.toString());
    }

    @Test
    void clientWithoutFixedNewstyleIsRefused() throws Exception {
        start(false, null);
        try (NbdTestClient c = NbdTestClient.raw(server.tcpAddress())) {
            java.io.DataInputStream in = c.input();
            assertEquals(NBDMAGIC, in.readLong());
            in.readLong();
            in.readUnsignedShort();
            c.sendRaw(new byte[] {0, 0, 0, 0});
            assertTrue(c.awaitClose());
        }
        assertTrue(log.stream().anyMatch(l -> l.contains("no fixed newstyle")), log.toString());
    }
}
