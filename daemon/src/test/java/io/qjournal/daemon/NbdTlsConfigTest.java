package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The TLS flags and keys, and the refusal of a plain-text NBD listener on the network. */
class NbdTlsConfigTest {
    @TempDir
    Path dir;

    private DaemonConfig parse(String... args) throws ConfigException {
        return DaemonConfig.parse(args, dir.resolve("absent.conf"));
    }

    private String error(String... args) {
        return assertThrows(ConfigException.class, () -> parse(args)).getMessage();
    }

    @Test
    void plainTextIsFineOnLoopbackAndTheDefault() throws Exception {
        DaemonConfig c = parse("--image", "a=/x/a.qcow2", "--jmx", "off");
        assertNull(c.nbdTlsCreds);
        assertFalse(c.nbdTlsVerifyPeer);
        parse("--image", "a=/x/a.qcow2", "--jmx", "off", "--nbd", "127.0.0.2:10809");
        parse("--image", "a=/x/a.qcow2", "--jmx", "off", "--nbd", "[::1]:10809");
    }

    @Test
    void plainTextOnANonLoopbackAddressIsRefused() {
        String m = error("--image", "a=/x/a.qcow2", "--jmx", "off", "--nbd", "0.0.0.0:10809");
        assertEquals("--nbd 0.0.0.0:10809 is not a loopback address: give --nbd-tls-creds DIR, or"
                + " --nbd-allow-plaintext to let anyone who reaches it read and write every image", m);
        assertTrue(error("--jmx", "off", "--nbd", "[::]:0").contains("is not a loopback address"));
    }

    @Test
    void allowPlaintextOrTlsAcceptsANonLoopbackAddress() throws Exception {
        DaemonConfig plain = parse("--jmx", "off", "--nbd", "0.0.0.0:10809", "--nbd-allow-plaintext");
        assertTrue(plain.nbdAllowPlaintext);
        DaemonConfig tls = parse("--jmx", "off", "--nbd", "0.0.0.0:10809", "--nbd-tls-creds", "/etc/pki/qjournald",
                "--nbd-tls-verify-peer");
        assertEquals(Path.of("/etc/pki/qjournald"), tls.nbdTlsCreds);
        assertTrue(tls.nbdTlsVerifyPeer);
    }

    @Test
    void verifyPeerNeedsCredentials() {
        assertEquals("--nbd-tls-verify-peer needs --nbd-tls-creds DIR", error("--jmx", "off", "--nbd-tls-verify-peer"));
    }

    @Test
    void configFileKeys() throws Exception {
        Path f = Files.writeString(dir.resolve("q.conf"), "nbd = 0.0.0.0:10809\nnbd-tls-creds = /etc/pki/q\n"
                + "nbd-tls-verify-peer = on\njmx = off\n");
        DaemonConfig c = parse("--config", f.toString());
        assertEquals(Path.of("/etc/pki/q"), c.nbdTlsCreds);
        assertTrue(c.nbdTlsVerifyPeer);
        Files.writeString(f, "nbd = 0.0.0.0:10809\nnbd-allow-plaintext = yes\njmx = off\n");
        assertTrue(parse("--config", f.toString()).nbdAllowPlaintext);
        Files.writeString(f, "nbd = 0.0.0.0:10809\njmx = off\n");
        assertTrue(error("--config", f.toString()).contains("is not a loopback address"));
    }
}
