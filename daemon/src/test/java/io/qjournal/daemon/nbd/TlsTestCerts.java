package io.qjournal.daemon.nbd;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * Test certificates made with the real openssl command, laid out as QEMU's tls-creds-x509 reads
 * them: {@code server/} (ca-cert.pem, server-cert.pem, server-key.pem) for qjournald and
 * {@code client/} (ca-cert.pem, client-cert.pem, client-key.pem) for qemu-io, nbdinfo, nbdcopy
 * and the JDK test client. The server certificate names 127.0.0.1 and localhost, as the clients
 * check the host they connect to.
 */
public final class TlsTestCerts {
    /** How the server's key file is written. */
    public enum KeyForm {
        /** "RSA PRIVATE KEY", as certtool and {@code openssl genrsa -traditional} write it. */
        RSA_PKCS1,
        /** "PRIVATE KEY", openssl's default. */
        RSA_PKCS8,
        /** "EC PRIVATE KEY" (SEC1), as certtool --key-type ecdsa writes it. */
        EC_SEC1,
        /** "PRIVATE KEY" with an EC key. */
        EC_PKCS8,
        /** "PRIVATE KEY" with an Ed25519 key. */
        ED25519
    }

    public final Path root;
    public final Path serverDir;
    public final Path clientDir;
    /** A client directory with the CA only: no certificate to present. */
    public final Path anonymousClientDir;

    private TlsTestCerts(Path root) {
        this.root = root;
        this.serverDir = root.resolve("server");
        this.clientDir = root.resolve("client");
        this.anonymousClientDir = root.resolve("client-anonymous");
    }

    /** A CA, a server certificate whose key is written as {@code form}, and a client certificate. */
    public static TlsTestCerts create(Path root, KeyForm form) throws IOException {
        TlsTestCerts t = new TlsTestCerts(root);
        Files.createDirectories(t.serverDir);
        Files.createDirectories(t.clientDir);
        Files.createDirectories(t.anonymousClientDir);
        Path work = Files.createDirectories(root.resolve("work"));
        Path caKey = work.resolve("ca-key.pem");
        Path caCert = t.serverDir.resolve(NbdTls.CA_CERT);
        ecKey(caKey, false);
        openssl(work, "req", "-x509", "-new", "-key", caKey.toString(), "-days", "3", "-subj",
                "/CN=qjournal test CA", "-out", caCert.toString());
        Files.copy(caCert, t.clientDir.resolve(NbdTls.CA_CERT));
        Files.copy(caCert, t.anonymousClientDir.resolve(NbdTls.CA_CERT));

        Path serverKey = t.serverDir.resolve(NbdTls.SERVER_KEY);
        switch (form) {
            case RSA_PKCS1 -> openssl(work, "genrsa", "-traditional", "-out", serverKey.toString(), "2048");
            case RSA_PKCS8 -> openssl(work, "genrsa", "-out", serverKey.toString(), "2048");
            case EC_SEC1 -> ecKey(serverKey, true);
            case EC_PKCS8 -> ecKey(serverKey, false);
            case ED25519 -> openssl(work, "genpkey", "-algorithm", "ED25519", "-out", serverKey.toString());
        }
        sign(work, caCert, caKey, serverKey, "/CN=localhost", "serverAuth",
                "subjectAltName=IP:127.0.0.1,DNS:localhost", t.serverDir.resolve(NbdTls.SERVER_CERT));

        Path clientKey = t.clientDir.resolve("client-key.pem");
        ecKey(clientKey, false);
        sign(work, caCert, caKey, clientKey, "/CN=qjournal test client", "clientAuth", null,
                t.clientDir.resolve("client-cert.pem"));
        return t;
    }

    /** A second, unrelated CA with its own server certificate, for "not signed by the CA" cases. */
    public static Path otherCaCert(Path root) throws IOException {
        Path work = Files.createDirectories(root);
        Path key = work.resolve("other-ca-key.pem");
        ecKey(key, false);
        Path cert = work.resolve("other-ca-cert.pem");
        openssl(work, "req", "-x509", "-new", "-key", key.toString(), "-days", "3", "-subj", "/CN=other CA",
                "-out", cert.toString());
        return cert;
    }

    private static void ecKey(Path out, boolean sec1) throws IOException {
        if (sec1) {
            openssl(out.getParent(), "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", out.toString());
        } else {
            openssl(out.getParent(), "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", out.toString());
        }
    }

    private static void sign(Path work, Path caCert, Path caKey, Path key, String subject, String usage,
                             String altNames, Path out) throws IOException {
        Path csr = work.resolve(out.getFileName() + ".csr");
        openssl(work, "req", "-new", "-key", key.toString(), "-subj", subject, "-out", csr.toString());
        Path ext = work.resolve(out.getFileName() + ".ext");
        String e = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=" + usage
                + "\n" + (altNames == null ? "" : altNames + "\n");
        Files.writeString(ext, e);
        openssl(work, "x509", "-req", "-in", csr.toString(), "-CA", caCert.toString(), "-CAkey", caKey.toString(),
                "-CAcreateserial", "-days", "2", "-extfile", ext.toString(), "-out", out.toString());
    }

    static void openssl(Path dir, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add("openssl");
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
        Process p = pb.start();
        try {
            p.getOutputStream().close();
            byte[] output = p.getInputStream().readAllBytes();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("openssl " + args[0] + " did not finish in 60 s");
            }
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", cmd) + " failed: " + new String(output, StandardCharsets.UTF_8));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new IOException("interrupted", e);
        }
    }

    /** A JDK client context trusting the CA; with {@code withCertificate} it presents the client certificate. */
    public SSLContext clientContext(boolean withCertificate) {
        try {
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            trust.setCertificateEntry("ca", PemFiles.certificates(clientDir.resolve(NbdTls.CA_CERT)).get(0));
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            KeyManagerFactory kmf = null;
            if (withCertificate) {
                KeyStore keys = KeyStore.getInstance("PKCS12");
                keys.load(null, null);
                PrivateKey key = PemFiles.privateKey(clientDir.resolve("client-key.pem"));
                List<X509Certificate> chain = PemFiles.certificates(clientDir.resolve("client-cert.pem"));
                keys.setKeyEntry("client", key, new char[0], chain.toArray(X509Certificate[]::new));
                kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(keys, new char[0]);
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
            return ctx;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
