package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon works under the shipped unit's SystemCallFilter=: the JVM runs under the same
 * seccomp allow list (applied by unit_seccomp.py through libseccomp, as there is no system
 * manager to start the unit) and serves NBD over TCP and a Unix socket, answers JMX with
 * authentication, and stops cleanly.
 */
class SystemCallFilterIT {
    private static final String PYTHON = "/usr/bin/python3";

    @TempDir
    Path dir;

    @Test
    void daemonServesUnderTheUnitsFilter() throws Exception {
        QemuTools.assumeAvailable("qemu-io", "systemd-analyze");
        Path script = seccompScript();
        Path unit = DaemonProcess.home().resolve("systemd/qjournald.service");
        // The filter bites: chown is outside it, even for root.
        Path victim = Files.writeString(dir.resolve("victim"), "x");
        QemuTools.Result chown = QemuTools.run(PYTHON, script.toString(), unit.toString(), "--", "chown", "0",
                victim.toString());
        assertNotEquals(0, chown.exitCode(), chown.stderr());
        assertTrue(chown.stderr().contains("Operation not permitted"), chown.stderr());

        // bin/qjournald runs $JAVA_HOME/bin/java: that java applies the filter, then execs the real one.
        Path fakeHome = Files.createDirectories(dir.resolve("jdk/bin"));
        Path java = fakeHome.resolve("java");
        Files.writeString(java, "#!/bin/sh\nexec " + PYTHON + " '" + script + "' '" + unit + "' -- '"
                + Path.of(System.getProperty("java.home"), "bin", "java") + "' \"$@\"\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));

        Path img = dir.resolve("a.qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "16M").requireSuccess();
        Path pw = Files.writeString(dir.resolve("jmx.password"), "admin secret\n");
        Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-------"));
        Path access = Files.writeString(dir.resolve("jmx.access"), "admin readwrite\n");
        Path sock = dir.resolve("nbd.sock");
        int nbd = DaemonProcess.freePort();
        int jmx = DaemonProcess.freePort();
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("d.log"),
                Map.of("JAVA_HOME", fakeHome.getParent().toString()),
                List.of("--image", "a=" + img, "--nbd", "127.0.0.1:" + nbd, "--nbd-socket", sock.toString(),
                        "--jmx", "127.0.0.1:" + jmx, "--jmx-password-file", pw.toString(),
                        "--jmx-access-file", access.toString()))) {
            d.awaitReady();
            assertTrue(d.output().contains("unit_seccomp: "), "ran under the filter:\n" + d.output());
            QemuTools.Result w = QemuTools.qemuIo("-f", "raw", "-c", "write -P 0x5a 0 1M", "-c", "flush",
                    "nbd://127.0.0.1:" + nbd + "/a");
            assertEquals(0, w.exitCode(), w.stdout() + w.stderr());
            QemuTools.Result r = QemuTools.qemuIo("-f", "raw", "-c", "read -P 0x5a 0 1M",
                    "nbd+unix:///a?socket=" + sock);
            assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
            assertTrue(!r.stdout().contains("Pattern verification failed"), r.stdout());
            try (JMXConnector c = JMXConnectorFactory.connect(
                    new JMXServiceURL("service:jmx:rmi:///jndi/rmi://127.0.0.1:" + jmx + "/jmxrmi"),
                    Map.of(JMXConnector.CREDENTIALS, new String[] {"admin", "secret"}))) {
                Object size = c.getMBeanServerConnection().getAttribute(
                        new ObjectName("qjournal:type=Image,name=a"), "VirtualSize");
                assertEquals(16L << 20, ((Number) size).longValue());
            }
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
            assertTrue(d.output().contains("stopped; every image closed cleanly"), d.output());
        }
        QemuTools.qemuImg("check", img.toString()).requireSuccess();
    }

    /** unit_seccomp.py in the temp dir, or a skip (a failure under QJOURNAL_REQUIRE_QEMU=1) without libseccomp. */
    private Path seccompScript() throws Exception {
        boolean bindings = Files.isExecutable(Path.of(PYTHON))
                && QemuTools.run(PYTHON, "-c", "import seccomp").exitCode() == 0;
        if (!bindings) {
            String msg = "python3-seccomp (libseccomp bindings for " + PYTHON + ") is not installed";
            if (QemuTools.required()) {
                fail(msg + " (QJOURNAL_REQUIRE_QEMU=1)");
            }
            Assumptions.assumeTrue(false, msg + "; skipped");
        }
        Path script = dir.resolve("unit_seccomp.py");
        try (InputStream in = SystemCallFilterIT.class.getResourceAsStream("unit_seccomp.py")) {
            Files.copy(in, script);
        }
        return script;
    }
}
