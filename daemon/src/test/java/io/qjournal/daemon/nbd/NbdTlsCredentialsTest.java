package io.qjournal.daemon.nbd;

import static org.junit.jupiter.api.Assertions.*;

import io.qjournal.daemon.nbd.TlsTestCerts.KeyForm;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Loading a QEMU-style credentials directory: every key form certtool and openssl write loads
 * and serves a TLS client; every broken directory gives one message naming the file.
 */
@Timeout(120)
class NbdTlsCredentialsTest {
    @TempDir
    Path tmp;

    private static String message(Path dir, boolean verifyPeer) {
        IOException e = assertThrows(IOException.class, () -> NbdTls.load(dir, verifyPeer));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @ParameterizedTest
    @EnumSource(value = KeyForm.class, mode = EnumSource.Mode.EXCLUDE, names = "ED25519")
    void everyKeyFormLoadsAndServes(KeyForm form) throws Exception {
        TlsTestCerts certs = TlsTestCerts.create(tmp, form);
        String expected = switch (form) {
            case RSA_PKCS1 -> "-----BEGIN RSA PRIVATE KEY-----";
            case EC_SEC1 -> "-----BEGIN EC PRIVATE KEY-----";
            default -> "-----BEGIN PRIVATE KEY-----";
        };
        assertTrue(Files.readString(certs.serverDir.resolve(NbdTls.SERVER_KEY)).contains(expected));
        NbdTls tls = NbdTls.load(certs.serverDir, true);
        MemoryExport disk = new MemoryExport("disk", 1 << 20, false);
        try (NbdServer server = new NbdServer(new MemoryExports().add(disk),
                NbdServer.Config.defaults(new InetSocketAddress("127.0.0.1", 0)).withLog(l -> { }).withTls(tls))) {
            server.start();
            try (NbdTestClient c = NbdTestClient.raw(server.tcpAddress())) {
                c.greet();
                c.startTls(certs.clientContext(true));
                c.negotiate("disk", true, false);
                c.write(512, new byte[] {9, 8, 7}, true);
                assertArrayEquals(new byte[] {9, 8, 7}, c.read(512, 3));
            }
        }
    }

    @Test
    void bothProvidersServe() throws Exception {
        TlsTestCerts certs = TlsTestCerts.create(tmp, KeyForm.RSA_PKCS1);
        assertTrue(io.netty.handler.ssl.OpenSsl.isAvailable(), "netty-tcnative did not load: "
                + io.netty.handler.ssl.OpenSsl.unavailabilityCause());
        for (String provider : new String[] {"openssl", "jdk"}) {
            NbdTls tls;
            System.setProperty("qjournald.nbd.tlsProvider", provider);
            try {
                tls = NbdTls.load(certs.serverDir, true);
            } finally {
                System.clearProperty("qjournald.nbd.tlsProvider");
            }
            assertTrue(tls.describe().startsWith(provider.equals("jdk") ? "TLS (JDK" : "TLS (OpenSSL"), tls.describe());
            MemoryExport disk = new MemoryExport("disk", 1 << 20, false);
            try (NbdServer server = new NbdServer(new MemoryExports().add(disk),
                    NbdServer.Config.defaults(new InetSocketAddress("127.0.0.1", 0)).withLog(l -> { }).withTls(tls))) {
                server.start();
                try (NbdTestClient c = NbdTestClient.raw(server.tcpAddress())) {
                    c.greet();
                    c.startTls(certs.clientContext(true));
                    c.negotiate("disk", true, false);
                    byte[] data = new byte[256 << 10];
                    new java.util.Random(3).nextBytes(data);
                    c.write(0, data, false);
                    assertArrayEquals(data, c.read(0, data.length), provider);
                }
            }
        }
    }

    @Test
    void certtoolStyleTextBeforeTheKeyIsSkipped() throws Exception {
        TlsTestCerts certs = TlsTestCerts.create(tmp, KeyForm.RSA_PKCS1);
        Path key = certs.serverDir.resolve(NbdTls.SERVER_KEY);
        // certtool --generate-privkey prints the decoded key above the PEM block
        Files.writeString(key, "Public Key Info:\n\tPublic Key Algorithm: RSA\n\tKey Security Level: Medium\n\n"
                + Files.readString(key));
        assertTrue(NbdTls.load(certs.serverDir, false).describe().startsWith("TLS ("));
    }

    @Test
    void ed25519KeysAreRefusedAtLoadNotAtEveryHandshake() throws Exception {
        TlsTestCerts certs = TlsTestCerts.create(tmp, KeyForm.ED25519);
        Path key = certs.serverDir.resolve(NbdTls.SERVER_KEY);
        assertEquals(key + ": Ed25519 and Ed448 keys are not supported; use an RSA or EC key",
                message(certs.serverDir, false));
    }

    @Test
    void missingDirectoryIsNamed() {
        Path dir = tmp.resolve("nope");
        String m = message(dir, false);
        assertTrue(m.startsWith(dir + ": no such directory"), m);
    }

    @Test
    void eachMissingFileIsNamed() throws Exception {
        TlsTestCerts certs = TlsTestCerts.create(tmp, KeyForm.EC_PKCS8);
        for (String name : new String[] {NbdTls.SERVER_KEY, NbdTls.SERVER_CERT, NbdTls.CA_CERT}) {
            Path f = certs.serverDir.resolve(name);
            Path aside = tmp.resolve(name + ".aside");
            Files.move(f, aside);
            String m = message(certs.serverDir, false);
            assertEquals(f + ": no such file", m);
            Files.move(aside, f);
        }
    }

    @Test
    void damagedFilesAreNamed() throws Exception {
        TlsTestCerts certs = TlsTestCerts.create(tmp, KeyForm.EC_PKCS8);
        Path cert = certs.serverDir.resolve(NbdTls.SERVER_CERT);
        Path key = certs.serverDir.resolve(NbdTls.SERVER_KEY);
        String goodCert = Files.readString(cert);
        String goodKey = Files.readString(key);

        Files.writeString(cert, "not a certificate\n");
        assertTrue(message(certs.serverDir, false).startsWith(cert + ": no PEM certificate"));
        Files.writeString(cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assertTrue(message(certs.serverDir, false).startsWith(cert + ": certificate 1 is not a valid X.509"));
        Files.writeString(cert, goodCert);

        Files.writeString(key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        assertTrue(message(certs.serverDir, false).startsWith(key + ": the private key is damaged"));
        Files.writeString(key, "-----BEGIN EC PRIVATE KEY-----\nMAMCAQE=\n-----END EC PRIVATE KEY-----\n");
        assertTrue(message(certs.serverDir, false).startsWith(key + ": the EC private key"));
        Files.writeString(key, "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n");
        assertTrue(message(certs.serverDir, false).startsWith(key + ": PEM block 'PRIVATE KEY' is not valid base64"));
        Files.writeString(key, goodKey);
        NbdTls.load(certs.serverDir, false);
    }

    @Test
    void encryptedKeyIsRefusedWithAReason() throws Exception {
        TlsTestCerts certs = TlsTestCerts.create(tmp, KeyForm.EC_PKCS8);
        Path key = certs.serverDir.resolve(NbdTls.SERVER_KEY);
        Path enc = tmp.resolve("enc.pem");
        TlsTestCerts.openssl(tmp, "pkcs8", "-topk8", "-in", key.toString(), "-out", enc.toString(),
                "-passout", "pass:secret");
        Files.move(enc, key, StandardCopyOption.REPLACE_EXISTING);
        String m = message(certs.serverDir, false);
        assertTrue(m.startsWith(key + ": the key is encrypted"), m);
    }

    @Test
    void keyOfAnotherCertificateIsRefused() throws Exception {
        TlsTestCerts certs = TlsTestCerts.create(tmp, KeyForm.EC_PKCS8);
        Path key = certs.serverDir.resolve(NbdTls.SERVER_KEY);
        // the client's key is a valid key of the same type, just not the server's
        Files.copy(certs.clientDir.resolve("client-key.pem"), key, StandardCopyOption.REPLACE_EXISTING);
        String m = message(certs.serverDir, false);
        assertEquals(key + ": the key does not belong to the certificate in " + certs.serverDir.resolve(
                NbdTls.SERVER_CERT), m);
    }

    @Test
    void certificateOfAnotherCaIsRefused() throws Exception {
        TlsTestCerts certs = TlsTestCerts.create(tmp, KeyForm.EC_PKCS8);
        Path ca = certs.serverDir.resolve(NbdTls.CA_CERT);
        Files.copy(TlsTestCerts.otherCaCert(tmp.resolve("other")), ca, StandardCopyOption.REPLACE_EXISTING);
        String m = message(certs.serverDir, true);
        assertTrue(m.startsWith(certs.serverDir.resolve(NbdTls.SERVER_CERT) + ": certificate 'CN=localhost' is not"
                + " signed by a CA in " + ca), m);
    }

    @Test
    void aFileWhereTheDirectoryShouldBeIsNamed() throws Exception {
        Path f = Files.writeString(tmp.resolve("creds"), "x");
        assertTrue(message(f, false).startsWith(f + ": not a directory"));
    }
}
