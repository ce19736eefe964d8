package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.daemon.nbd.NbdTls;
import io.qjournal.daemon.nbd.TlsTestCerts;
import io.qjournal.qcow2.testsupport.QemuTools;
import io.qjournal.qcow2.testsupport.QemuTools.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/qjournald with --nbd-tls-creds against the real TLS clients: qemu-io with a
 * tls-creds-x509 object, nbdinfo and nbdcopy with nbds:// URIs. Certificates are made by openssl
 * for each run. Also the start-up refusals: plain text on a non-loopback address, and bad
 * credentials, each as exit status 2 and one line.
 */
@Timeout(180)
class NbdTlsIT {
    static final long SIZE = 16L << 20;

    @TempDir
    Path dir;

    private Path image() {
        Path p = dir.resolve("a.qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", p.toString(), String.valueOf(SIZE)).requireSuccess();
        return p;
    }

    private DaemonProcess start(Path image, int port, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("--image", "a=" + image, "--nbd", "127.0.0.1:" + port,
                "--jmx", "off"));
        args.addAll(Arrays.asList(extra));
        DaemonProcess d = DaemonProcess.start(dir.resolve("qjournald.log"), Map.of(), args);
        d.awaitReady();
        return d;
    }

    /** qemu-io over TLS with the credentials of {@code clientDir} (QEMU's endpoint=client layout). */
    private static Result qemuIoTls(Path clientDir, int port, String... commands) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "--object",
                "tls-creds-x509,id=tls0,dir=" + clientDir + ",endpoint=client", "--image-opts",
                "driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=" + port + ",export=a,tls-creds=tls0"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        return QemuTools.run(cmd.toArray(String[]::new));
    }

    private static String nbds(int port, Path clientDir) {
        return "nbds://127.0.0.1:" + port + "/a?tls-certificates=" + clientDir;
    }

    private static void ok(Result r) {
        r.requireSuccess();
        String all = r.stdout() + r.stderr();
        assertFalse(all.contains("failed") || all.contains("error"), all);
    }

    @Test
    void realClientsWriteAndReadOverTlsAndPlainClientsAreRefused() throws Exception {
        QemuTools.assumeAvailable("qemu-io", "nbdinfo", "nbdcopy");
        // certtool's and openssl -traditional's key form, the one the JDK cannot read by itself
        TlsTestCerts certs = TlsTestCerts.create(dir.resolve("pki"), TlsTestCerts.KeyForm.RSA_PKCS1);
        int port = DaemonProcess.freePort();
        try (DaemonProcess d = start(image(), port, "--nbd-tls-creds", certs.serverDir.toString())) {
            assertTrue(d.output().contains("TLS ("), d.output());

            Result plain = QemuTools.qemuIo("-f", "raw", "nbd://127.0.0.1:" + port + "/a", "-c", "read 0 512");
            assertNotEquals(0, plain.exitCode(), plain.stdout());
            assertTrue(plain.stderr().contains("TLS negotiation required"), plain.stderr());
            Result plainInfo = QemuTools.run("nbdinfo", "nbd://127.0.0.1:" + port + "/a");
            assertNotEquals(0, plainInfo.exitCode(), plainInfo.stdout());

            ok(qemuIoTls(certs.clientDir, port, "write -P 0xab 0 1M", "write -P 0x5c 8M 64k"));
            ok(qemuIoTls(certs.clientDir, port, "read -P 0xab 0 1M", "read -P 0x5c 8M 64k", "read -P 0 1M 7M"));

            Result info = QemuTools.run("nbdinfo", "--size", nbds(port, certs.clientDir));
            info.requireSuccess();
            assertEquals(String.valueOf(SIZE), info.stdout().strip());

            // nbdcopy both ways: a random file into the export, back out, and qemu-io agrees.
            byte[] data = new byte[(int) SIZE];
            new Random(42).nextBytes(data);
            Path in = Files.write(dir.resolve("in.raw"), data);
            Path out = dir.resolve("out.raw");
            QemuTools.run("nbdcopy", in.toString(), nbds(port, certs.clientDir)).requireSuccess();
            QemuTools.run("nbdcopy", nbds(port, certs.clientDir), out.toString()).requireSuccess();
            assertArrayEquals(data, Files.readAllBytes(out));
            String firstByte = String.format("0x%02x", data[0] & 0xff);
            ok(qemuIoTls(certs.clientDir, port, "read -P " + firstByte + " 0 1"));

            assertTrue(d.output().contains("TLS established (TLSv1.3"), d.output());
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
        }
    }

    @Test
    void verifyPeerAdmitsOnlyClientsWithACertificateOfTheCa() throws Exception {
        QemuTools.assumeAvailable("qemu-io", "nbdinfo");
        TlsTestCerts certs = TlsTestCerts.create(dir.resolve("pki"), TlsTestCerts.KeyForm.EC_SEC1);
        int port = DaemonProcess.freePort();
        try (DaemonProcess d = start(image(), port, "--nbd-tls-creds", certs.serverDir.toString(),
                "--nbd-tls-verify-peer")) {
            Result anonymous = qemuIoTls(certs.anonymousClientDir, port, "read 0 512");
            assertNotEquals(0, anonymous.exitCode(), anonymous.stdout());
            Result anonymousInfo = QemuTools.run("nbdinfo", "--size", nbds(port, certs.anonymousClientDir));
            assertNotEquals(0, anonymousInfo.exitCode(), anonymousInfo.stdout());
            assertFalse(d.output().contains("uses export"), d.output());

            ok(qemuIoTls(certs.clientDir, port, "write -P 0x11 0 4k", "read -P 0x11 0 4k"));
            Result info = QemuTools.run("nbdinfo", "--size", nbds(port, certs.clientDir));
            info.requireSuccess();
            assertTrue(d.output().contains("client 'CN=qjournal test client'"), d.output());
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
        }
    }

    /** Runs the daemon expecting a start-up refusal: exit 2 and exactly one line. */
    private String refusedAtStart(List<String> args) throws Exception {
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("refused.log"), Map.of(), args)) {
            assertEquals(2, d.awaitExit(60), d.output());
            List<String> lines = d.output().strip().lines().toList();
            assertEquals(1, lines.size(), d.output());
            return lines.get(0);
        }
    }

    @Test
    void plainTextOnANonLoopbackAddressIsRefusedBeforeBinding() throws Exception {
        QemuTools.assumeAvailable();
        Path img = image();
        // One line only: refused while parsing the flags, before any image opens or anything binds
        // (the "starting" line would come first otherwise).
        String line = refusedAtStart(List.of("--image", "a=" + img, "--nbd", "0.0.0.0:0", "--jmx", "off"));
        assertTrue(line.contains("--nbd 0.0.0.0:0 is not a loopback address: give --nbd-tls-creds DIR, or"
                + " --nbd-allow-plaintext"), line);
    }

    @Test
    void badCredentialsAreOneLineNamingTheFile() throws Exception {
        QemuTools.assumeAvailable();
        Path img = image();
        Path missing = dir.resolve("no-such-dir");
        String line = refusedAtStart(List.of("--image", "a=" + img, "--nbd", "127.0.0.1:0", "--jmx", "off",
                "--nbd-tls-creds", missing.toString()));
        assertTrue(line.contains(missing + ": no such directory"), line);

        TlsTestCerts certs = TlsTestCerts.create(dir.resolve("pki"), TlsTestCerts.KeyForm.EC_PKCS8);
        Path key = certs.serverDir.resolve(NbdTls.SERVER_KEY);
        Files.delete(key);
        line = refusedAtStart(List.of("--image", "a=" + img, "--nbd", "127.0.0.1:0", "--jmx", "off",
                "--nbd-tls-creds", certs.serverDir.toString()));
        assertTrue(line.contains(key + ": no such file"), line);
    }
}
