package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.daemon.nbd.NbdTestClient;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images opened and closed while the daemon runs (JMX openImage/closeImage), served over the
 * Unix socket and TCP; --image-dir naming; a closed image is clean for QEMU at once.
 */
class RuntimeImagesIT {
    @TempDir
    Path dir;

    @Test
    void openAndCloseAtRunTime() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path images = java.nio.file.Files.createDirectory(dir.resolve("images"));
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", images.resolve("vm1.qcow2").toString(), "16M")
                .requireSuccess();
        Path late = dir.resolve("late.qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", late.toString(), "32M").requireSuccess();
        int jmxPort = DaemonProcess.freePort();
        Path sock = dir.resolve("nbd.sock");
        // late.qcow2 lies outside the image dir: allowed by --allow-dir.
        List<String> args = List.of("--image-dir", images.toString(), "--allow-dir", dir.toString(), "--nbd", "off",
                "--nbd-socket", sock.toString(), "--jmx", "127.0.0.1:" + jmxPort, "--jmx-no-auth");
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("qjournald.log"), Map.of(), args)) {
            d.awaitReady();
            Jmx jmx = new Jmx(jmxPort);
            assertEquals(List.of("vm1"), Arrays.asList((String[]) jmx.daemon("Images")));
            ObjectName daemon = new ObjectName("qjournal:type=Daemon");
            jmx.mbs.invoke(daemon, "openImage", new Object[] {"late", late.toString()},
                    new String[] {String.class.getName(), String.class.getName()});
            assertEquals(List.of("late", "vm1"), Arrays.asList((String[]) jmx.daemon("Images")));
            byte[] data = new byte[8192];
            Arrays.fill(data, (byte) 0x42);
            try (NbdTestClient c = NbdTestClient.connectUnix(sock, "late")) {
                assertEquals(32L << 20, c.size());
                c.write(4096, data, false);
                c.flush();
                assertArrayEquals(data, c.read(4096, 8192));
                assertEquals(1, jmx.image("late", "Clients"));
                assertEquals(8192L, jmx.image("late", "BytesWritten"));
                // A second open of the same name is refused with a clear message.
                Exception dup = assertThrows(Exception.class, () -> jmx.mbs.invoke(daemon, "openImage",
                        new Object[] {"late", late.toString()},
                        new String[] {String.class.getName(), String.class.getName()}));
                assertTrue(String.valueOf(dup.getMessage()).contains("already in use")
                        || String.valueOf(dup.getCause()).contains("already in use"), String.valueOf(dup));

                jmx.mbs.invoke(daemon, "closeImage", new Object[] {"late"}, new String[] {String.class.getName()});
                assertTrue(c.awaitClose(), "the client of a closed image is disconnected");
            }
            assertEquals(List.of("vm1"), Arrays.asList((String[]) jmx.daemon("Images")));
            d.awaitLog("[image late] closed cleanly", 10);
            // Closed cleanly while the daemon runs: QEMU opens it for writing right away.
            QemuTools.qemuImg("check", late.toString()).requireSuccess();
            QemuTools.qemuIo("-c", "read -P 0x42 4096 8192", late.toString()).requireSuccess();

            jmx.close();
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
        }
        QemuTools.qemuImg("check", images.resolve("vm1.qcow2").toString()).requireSuccess();
    }
}
