package io.qjournal.daemon.nbd;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Reads the PEM files of a TLS credentials directory as certtool and openssl write them: text
 * before a block is skipped (certtool prints the decoded key above it), keys may be PKCS#8
 * ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY", certtool's and {@code openssl genrsa -traditional}'s
 * form) or SEC1 ("EC PRIVATE KEY"). The last two are wrapped into PKCS#8 here, which the JDK
 * reads; that takes a few DER bytes, not a crypto library. Errors are IOExceptions whose message
 * starts with the file name.
 */
final class PemFiles {
    private PemFiles() {
    }

    /** Credential files are a few KiB; anything far larger is not one. */
    static final long MAX_FILE_BYTES = 1 << 20;

    private static final byte[] RSA_ALGORITHM = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86,
            (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00}; // SEQUENCE { rsaEncryption, NULL }
    private static final byte[] EC_PUBLIC_KEY_OID = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02,
            0x01}; // id-ecPublicKey

    /** One PEM block: its label (as in "BEGIN label") and its decoded content. */
    record Block(String label, byte[] der, boolean encryptedHeader) {
    }

    static List<X509Certificate> certificates(Path file) throws IOException {
        List<X509Certificate> out = new ArrayList<>();
        CertificateFactory cf;
        try {
            cf = CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IOException(file + ": no X.509 support in this JVM", e);
        }
        for (Block b : blocks(file)) {
            if (!b.label().equals("CERTIFICATE") && !b.label().equals("X509 CERTIFICATE")) {
                continue;
            }
            try {
                out.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(b.der())));
            } catch (CertificateException | ClassCastException e) {
                throw new IOException(file + ": certificate " + (out.size() + 1) + " is not a valid X.509 certificate", e);
            }
        }
        if (out.isEmpty()) {
            throw new IOException(file + ": no PEM certificate (-----BEGIN CERTIFICATE-----) in the file");
        }
        return out;
    }

    static PrivateKey privateKey(Path file) throws IOException {
        for (Block b : blocks(file)) {
            byte[] pkcs8;
            switch (b.label()) {
                case "PRIVATE KEY" -> pkcs8 = b.der();
                case "RSA PRIVATE KEY" -> pkcs8 = wrap(RSA_ALGORITHM, b.der());
                case "EC PRIVATE KEY" -> pkcs8 = wrap(ecAlgorithm(file, b.der()), b.der());
                case "ENCRYPTED PRIVATE KEY" -> throw new IOException(file + ": the key is encrypted; qjournald"
                        + " has no passphrase to give (write it unencrypted, e.g. openssl pkey -in KEY -out "
                        + file.getFileName() + ", and keep the file mode 0600)");
                default -> {
                    continue;
                }
            }
            if (b.encryptedHeader()) {
                throw new IOException(file + ": the key is encrypted (Proc-Type: 4,ENCRYPTED); qjournald has no"
                        + " passphrase to give");
            }
            return decode(file, pkcs8);
        }
        throw new IOException(file + ": no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
                + " in the file");
    }

    private static PrivateKey decode(Path file, byte[] pkcs8) throws IOException {
        for (String algorithm : new String[] {"RSA", "EC"}) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
            } catch (GeneralSecurityException | RuntimeException e) {
                // not this algorithm: try the next
            }
        }
        try {
            KeyFactory.getInstance("EdDSA").generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
            // Valid, but Netty's OpenSSL provider fails every handshake with one: refuse it here.
            throw new IOException(file + ": Ed25519 and Ed448 keys are not supported; use an RSA or EC key");
        } catch (GeneralSecurityException | RuntimeException e) {
            // not EdDSA either
        }
        throw new IOException(file + ": the private key is damaged or of an unsupported type (RSA and EC keys"
                + " are read)");
    }

    /** All PEM blocks of the file, in order; text outside blocks is ignored. */
    static List<Block> blocks(Path file) throws IOException {
        String text;
        try {
            if (Files.isDirectory(file)) {
                throw new IOException(file + ": is a directory, not a PEM file");
            }
            if (Files.size(file) > MAX_FILE_BYTES) {
                throw new IOException(file + ": larger than " + (MAX_FILE_BYTES >> 10) + " KiB; not a PEM file");
            }
            text = new String(Files.readAllBytes(file), StandardCharsets.US_ASCII);
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": no such file");
        } catch (java.nio.file.AccessDeniedException e) {
            throw new IOException(file + ": permission denied");
        }
        List<Block> out = new ArrayList<>();
        int at = 0;
        while (true) {
            int begin = text.indexOf("-----BEGIN ", at);
            if (begin < 0) {
                return out;
            }
            int labelEnd = text.indexOf("-----", begin + 11);
            if (labelEnd < 0) {
                throw new IOException(file + ": unterminated PEM header");
            }
            String label = text.substring(begin + 11, labelEnd);
            String endLine = "-----END " + label + "-----";
            int end = text.indexOf(endLine, labelEnd);
            if (end < 0) {
                throw new IOException(file + ": PEM block '" + label + "' has no END line");
            }
            String body = text.substring(labelEnd + 5, end);
            boolean encrypted = false;
            StringBuilder b64 = new StringBuilder();
            for (String line : body.split("\\R")) {
                // RFC 1421 headers (Proc-Type, DEK-Info) of old-style encrypted keys
                if (line.contains(":")) {
                    encrypted |= line.startsWith("Proc-Type:") && line.contains("ENCRYPTED");
                    continue;
                }
                b64.append(line.strip());
            }
            try {
                out.add(new Block(label, Base64.getDecoder().decode(b64.toString()), encrypted));
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ": PEM block '" + label + "' is not valid base64");
            }
            at = end + endLine.length();
        }
    }

    /** PrivateKeyInfo ::= SEQUENCE { version 0, AlgorithmIdentifier, OCTET STRING key }. */
    private static byte[] wrap(byte[] algorithm, byte[] key) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(new byte[] {0x02, 0x01, 0x00});
        body.writeBytes(algorithm);
        body.writeBytes(tlv(0x04, key));
        return tlv(0x30, body.toByteArray());
    }

    /**
     * AlgorithmIdentifier { id-ecPublicKey, namedCurve } for a SEC1 ECPrivateKey, whose curve
     * OID sits in its [0] parameters: SEQUENCE { INTEGER 1, OCTET STRING, [0] OID, [1] BIT STRING }.
     */
    private static byte[] ecAlgorithm(Path file, byte[] sec1) throws IOException {
        try {
            Der seq = Der.read(sec1, 0);
            int p = seq.contentStart();
            while (p < seq.end()) {
                Der field = Der.read(sec1, p);
                if (field.tag() == 0xa0) {
                    Der oid = Der.read(sec1, field.contentStart());
                    if (oid.tag() != 0x06) {
                        break;
                    }
                    ByteArrayOutputStream alg = new ByteArrayOutputStream();
                    alg.writeBytes(EC_PUBLIC_KEY_OID);
                    alg.write(sec1, oid.start(), oid.end() - oid.start());
                    return tlv(0x30, alg.toByteArray());
                }
                p = field.end();
            }
        } catch (IndexOutOfBoundsException e) {
            throw new IOException(file + ": the EC private key is not valid DER");
        }
        throw new IOException(file + ": the EC private key names no curve (write it as PKCS#8: openssl pkcs8"
                + " -topk8 -nocrypt)");
    }

    /** A DER element at {@code start}: its tag, where its content starts and where it ends. */
    private record Der(int tag, int start, int contentStart, int end) {
        static Der read(byte[] b, int start) {
            int tag = b[start] & 0xff;
            int len = b[start + 1] & 0xff;
            int p = start + 2;
            if (len >= 0x80) {
                int n = len & 0x7f;
                if (n == 0 || n > 3) {
                    throw new IndexOutOfBoundsException("length of " + n + " bytes");
                }
                len = 0;
                for (int i = 0; i < n; i++) {
                    len = (len << 8) | (b[p++] & 0xff);
                }
            }
            if (p + len > b.length) {
                throw new IndexOutOfBoundsException("element runs past the end");
            }
            return new Der(tag, start, p, p + len);
        }
    }

    private static byte[] tlv(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(content.length + 6);
        out.write(tag);
        int n = content.length;
        if (n < 0x80) {
            out.write(n);
        } else if (n < 0x100) {
            out.write(0x81);
            out.write(n);
        } else if (n < 0x10000) {
            out.write(0x82);
            out.write(n >> 8);
            out.write(n);
        } else {
            out.write(0x83);
            out.write(n >> 16);
            out.write(n >> 8);
            out.write(n);
        }
        out.writeBytes(content);
        return out.toByteArray();
    }
}
