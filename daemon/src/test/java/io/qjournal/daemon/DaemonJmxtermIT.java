package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.daemon.nbd.NbdTestClient;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.File;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator's path end to end: a real qjournald with password authentication, NBD clients
 * writing, and the shipped jmxterm scripts through bin/qjournal-jmxterm reading and steering it.
 */
class DaemonJmxtermIT {
    private static final Path WRAPPER = DaemonProcess.home().resolve("bin/qjournal-jmxterm");

    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    private Run jmxterm(int port, Path passwordFile, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(WRAPPER.toString(), "--host", "127.0.0.1", "--port",
                String.valueOf(port), "--user", "admin", "--password-file", passwordFile.toString()));
        cmd.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        Path out = Files.createTempFile(dir, "out", ".txt");
        Path err = Files.createTempFile(dir, "err", ".txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Process p = pb.start();
        try {
            // A bound against a hung child only; not a timing assertion.
            assertTrue(p.waitFor(90, TimeUnit.SECONDS), "jmxterm did not finish: " + cmd);
            return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            p.destroyForcibly();
        }
    }

    /** The value jmxterm printed for an attribute ({@code Name = value;}). */
    private static String attr(Run r, String name) {
        for (String line : r.out().lines().toList()) {
            String l = line.strip();
            if (l.startsWith(name + " = ")) {
                return l.substring(name.length() + 3).replaceAll(";$", "");
            }
        }
        throw new AssertionError("no " + name + " in\n" + r);
    }

    private static Path secret(Path p, String text) throws Exception {
        Files.writeString(p, text);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-------"));
        return p;
    }

    @Test
    void operatorWatchesAndSteersALiveImageWithTheShippedScripts() throws Exception {
        QemuTools.assumeAvailable("qemu-img");
        Path vm1 = dir.resolve("vm1.qcow2");
        Path late = dir.resolve("late.qcow2");
        for (Path p : List.of(vm1, late)) {
            QemuTools.qemuImg("create", "-q", "-f", "qcow2", p.toString(), "64M").requireSuccess();
        }
        Path passwords = secret(dir.resolve("jmx.password"), "admin s3cret\n");
        Path access = Files.writeString(dir.resolve("jmx.access"), "admin readwrite\n");
        Path pw = secret(dir.resolve("pw"), "s3cret\n");
        Path wrongPw = secret(dir.resolve("wrong"), "not-it\n");
        int nbdPort = DaemonProcess.freePort();
        int jmxPort = DaemonProcess.freePort();
        List<String> args = List.of("--image", "vm1=" + vm1, "--nbd", "127.0.0.1:" + nbdPort, "--jmx",
                "127.0.0.1:" + jmxPort, "--jmx-password-file", passwords.toString(), "--jmx-access-file",
                access.toString());
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("qjournald.log"), Map.of(), args)) {
            d.awaitReady();
            // A long interval: the write below stays uncommitted until someone forces it.
            Run set = jmxterm(jmxPort, pw, "set-commit-interval", "IMAGE=vm1", "MILLIS=600000");
            assertEquals(0, set.exit(), set.toString());
            assertEquals("600000", attr(set, "CommitIntervalMillis"), set.toString());

            Run clean = jmxterm(jmxPort, pw, "image-state", "IMAGE=vm1");
            assertEquals(0, clean.exit(), clean.toString());
            assertEquals("false", attr(clean, "Dirty"), clean.toString());
            assertEquals("OK", attr(clean, "Health"), clean.toString());
            assertEquals("600000", attr(clean, "CommitIntervalMillis"), clean.toString());

            byte[] data = new byte[65536];
            Arrays.fill(data, (byte) 0x6b);
            try (NbdTestClient c = NbdTestClient.connect(new InetSocketAddress("127.0.0.1", nbdPort), "vm1")) {
                c.write(1 << 20, data, false);
                Run dirty = jmxterm(jmxPort, pw, "image-state", "IMAGE=vm1");
                assertEquals(0, dirty.exit(), dirty.toString());
                assertEquals("true", attr(dirty, "Dirty"), dirty.toString());
                assertEquals("1", attr(dirty, "Clients"), dirty.toString());
                assertEquals("65536", attr(dirty, "BytesWritten"), dirty.toString());

                Run sync = jmxterm(jmxPort, pw, "force-sync-all");
                assertEquals(0, sync.exit(), sync.toString());
                Run after = jmxterm(jmxPort, pw, "image-state", "IMAGE=vm1");
                assertEquals("false", attr(after, "Dirty"), after.toString());
                assertEquals("0", attr(after, "PendingTransactions"), after.toString());
            }

            // Open and close an image at run time with the operator's own script.
            Path script = Files.writeString(dir.resolve("late.jmx"), "bean qjournal:type=Daemon\n"
                    + "run openImage late " + late + "\n" + "get Images\n");
            Run opened = jmxterm(jmxPort, pw, script.toString());
            assertEquals(0, opened.exit(), opened.toString());
            assertTrue(opened.out().contains("late"), opened.toString());
            Path close = Files.writeString(dir.resolve("close.jmx"), "bean qjournal:type=Daemon\n"
                    + "run closeImage late\n" + "get Images\n");
            Run closed = jmxterm(jmxPort, pw, close.toString());
            assertEquals(0, closed.exit(), closed.toString());
            assertTrue(!closed.out().contains("late"), closed.toString());
            // Closed at run time means closed cleanly: QEMU accepts it at once.
            QemuTools.qemuImg("check", late.toString()).requireSuccess();

            Run denied = jmxterm(jmxPort, wrongPw, "image-state", "IMAGE=vm1");
            assertNotEquals(0, denied.exit(), denied.toString());
            assertTrue(denied.err().contains("Authentication failed"), denied.toString());
        }
    }
}
