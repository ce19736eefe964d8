package io.qjournal.daemon.nbd;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.function.Consumer;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * TLS credentials of the NBD server, read from a directory laid out as QEMU's
 * {@code tls-creds-x509} object with {@code endpoint=server} reads it: {@code ca-cert.pem} (the
 * CA that signed the server's certificate and, with verify-peer, the clients'),
 * {@code server-cert.pem} (the server's certificate, optionally followed by intermediates) and
 * {@code server-key.pem} (its unencrypted private key; see {@link PemFiles} for the forms read).
 *
 * <p>Everything is checked when loading, so that a bad directory stops the daemon at start with
 * one line naming the file rather than failing every client's handshake later: each file
 * parses, the key belongs to the certificate, the certificate is valid now and signed by a CA of
 * ca-cert.pem (directly or through the intermediates that follow it).
 *
 * <p>Provider: OpenSSL (BoringSSL from netty-tcnative) where its native library loads, else the
 * JDK's; the system property {@code qjournald.nbd.tlsProvider=jdk|openssl} picks one (for
 * measurements). See docs/daemon.md, "TLS", for why.
 */
public final class NbdTls {
    public static final String CA_CERT = "ca-cert.pem";
    public static final String SERVER_CERT = "server-cert.pem";
    public static final String SERVER_KEY = "server-key.pem";

    private final SslContext context;
    private final boolean verifyPeer;
    private final String provider;

    private NbdTls(SslContext context, boolean verifyPeer, String provider) {
        this.context = context;
        this.verifyPeer = verifyPeer;
        this.provider = provider;
    }

    /**
     * Loads and checks {@code dir}. With {@code verifyPeer} every client must present a
     * certificate signed by a CA of ca-cert.pem. Errors: one IOException whose message names the
     * file and the problem.
     */
    public static NbdTls load(Path dir, boolean verifyPeer) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException(dir + ": " + (Files.exists(dir) ? "not a directory" : "no such directory")
                    + " (TLS credentials: " + CA_CERT + ", " + SERVER_CERT + ", " + SERVER_KEY + ")");
        }
        Path caFile = dir.resolve(CA_CERT);
        Path certFile = dir.resolve(SERVER_CERT);
        Path keyFile = dir.resolve(SERVER_KEY);
        List<X509Certificate> cas = PemFiles.certificates(caFile);
        List<X509Certificate> chain = PemFiles.certificates(certFile);
        PrivateKey key = PemFiles.privateKey(keyFile);
        checkValidNow(certFile, chain.get(0));
        for (X509Certificate ca : cas) {
            checkValidNow(caFile, ca);
        }
        checkKeyMatches(keyFile, certFile, key, chain.get(0).getPublicKey());
        checkSignedByCa(certFile, caFile, chain, cas);

        boolean openSsl = useOpenSsl();
        try {
            SslContext context = SslContextBuilder.forServer(key, chain.toArray(X509Certificate[]::new))
                    .sslProvider(openSsl ? SslProvider.OPENSSL : SslProvider.JDK)
                    .protocols("TLSv1.3", "TLSv1.2")
                    .trustManager(cas.toArray(X509Certificate[]::new))
                    .clientAuth(verifyPeer ? ClientAuth.REQUIRE : ClientAuth.NONE)
                    .build();
            return new NbdTls(context, verifyPeer, openSsl ? "OpenSSL " + OpenSsl.versionString() : "JDK");
        } catch (SSLException | RuntimeException e) {
            throw new IOException(dir + ": cannot set up TLS with these credentials: " + e.getMessage(), e);
        }
    }

    /** For a configuration check without starting anything: {@link #load} and forget. */
    public static void check(Path dir, boolean verifyPeer) throws IOException {
        load(dir, verifyPeer);
    }

    private static boolean useOpenSsl() {
        String wanted = System.getProperty("qjournald.nbd.tlsProvider", "");
        if (wanted.equalsIgnoreCase("jdk")) {
            return false;
        }
        return OpenSsl.isAvailable();
    }

    /**
     * Puts TLS in front of the connection's whole pipeline, once the ACK to NBD_OPT_STARTTLS has
     * been written (and not yet flushed) through {@code ctx}. {@code established} gets e.g.
     * "TLSv1.3, TLS_AES_128_GCM_SHA256, client 'CN=host1'" when the handshake succeeds; a failed
     * one reaches the pipeline as an exception.
     */
    void startOn(ChannelHandlerContext ctx, Consumer<String> established) {
        ChannelPipeline p = ctx.pipeline();
        // From the first handler's context the flush goes straight to the socket: a flush
        // consolidator would otherwise hold the ACK until the read completes, after the
        // SslHandler is in place, which would then encrypt it.
        p.firstContext().flush();
        SslHandler ssl = context.newHandler(ctx.alloc());
        p.addFirst("tls", ssl);
        ssl.handshakeFuture().addListener(f -> {
            if (f.isSuccess()) {
                SSLSession session = ssl.engine().getSession();
                established.accept(session.getProtocol() + ", " + session.getCipherSuite() + clientSubject(session));
            }
        });
    }

    private static String clientSubject(SSLSession session) {
        try {
            Certificate[] certs = session.getPeerCertificates();
            if (certs.length > 0 && certs[0] instanceof X509Certificate x) {
                return ", client '" + x.getSubjectX500Principal().getName() + "'";
            }
        } catch (SSLPeerUnverifiedException e) {
            // no client certificate asked for
        }
        return "";
    }

    public boolean verifyPeer() {
        return verifyPeer;
    }

    /** e.g. "TLS (JDK, client certificates required)", for the listening line. */
    public String describe() {
        return "TLS (" + provider + (verifyPeer ? ", client certificates required" : "") + ")";
    }

    private static void checkValidNow(Path file, X509Certificate c) throws IOException {
        try {
            c.checkValidity();
        } catch (CertificateExpiredException e) {
            throw new IOException(file + ": certificate '" + c.getSubjectX500Principal().getName() + "' expired on "
                    + c.getNotAfter().toInstant());
        } catch (CertificateNotYetValidException e) {
            throw new IOException(file + ": certificate '" + c.getSubjectX500Principal().getName()
                    + "' is not valid before " + c.getNotBefore().toInstant());
        }
    }

    /** Signs a few bytes with the key and verifies them with the certificate's public key. */
    private static void checkKeyMatches(Path keyFile, Path certFile, PrivateKey key, PublicKey pub)
            throws IOException {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            default -> null;
        };
        if (algorithm == null) {
            return;
        }
        if (!key.getAlgorithm().equals(pub.getAlgorithm())) {
            throw new IOException(keyFile + ": a " + key.getAlgorithm() + " key does not belong to the "
                    + pub.getAlgorithm() + " certificate in " + certFile);
        }
        byte[] probe = "qjournald key check".getBytes(StandardCharsets.US_ASCII);
        boolean ok;
        try {
            Signature s = Signature.getInstance(algorithm);
            s.initSign(key);
            s.update(probe);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance(algorithm);
            v.initVerify(pub);
            v.update(probe);
            ok = v.verify(sig);
        } catch (GeneralSecurityException e) {
            ok = false;
        }
        if (!ok) {
            throw new IOException(keyFile + ": the key does not belong to the certificate in " + certFile);
        }
    }

    /** The leaf, through any intermediates that follow it in the file, is signed by one of the CAs. */
    private static void checkSignedByCa(Path certFile, Path caFile, List<X509Certificate> chain,
                                        List<X509Certificate> cas) throws IOException {
        for (int i = 0; i + 1 < chain.size(); i++) {
            if (!signedBy(chain.get(i), chain.get(i + 1))) {
                throw new IOException(certFile + ": certificate " + (i + 1) + " is not signed by certificate "
                        + (i + 2) + " that follows it");
            }
        }
        X509Certificate top = chain.get(chain.size() - 1);
        for (X509Certificate ca : cas) {
            if (signedBy(top, ca)) {
                return;
            }
        }
        throw new IOException(certFile + ": certificate '" + top.getSubjectX500Principal().getName()
                + "' is not signed by a CA in " + caFile + " (issuer '" + top.getIssuerX500Principal().getName()
                + "')");
    }

    private static boolean signedBy(X509Certificate c, X509Certificate issuer) {
        if (!c.getIssuerX500Principal().equals(issuer.getSubjectX500Principal())) {
            return false;
        }
        try {
            c.verify(issuer.getPublicKey());
            return true;
        } catch (GeneralSecurityException e) {
            return false;
        }
    }
}
