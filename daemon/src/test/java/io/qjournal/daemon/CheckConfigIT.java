package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuLockHolder;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qjournald --check-config} as an operator runs it, and the start's own refusal of a bad
 * password file: both decide before any image is opened, so an image file is neither locked
 * nor changed by them.
 */
class CheckConfigIT {
    @TempDir
    Path dir;

    private Path image() throws Exception {
        Path img = dir.resolve("a.qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "1M").requireSuccess();
        return img;
    }

    private Path password(String mode) throws Exception {
        Path pw = dir.resolve("jmx.password");
        Files.writeString(pw, "admin secret\n");
        Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString(mode));
        return pw;
    }

    private List<String> args(Path img, Path pw, String... extra) {
        List<String> a = new ArrayList<>(List.of("--image", "a=" + img,
                "--nbd", "127.0.0.1:" + DaemonProcess.freePort(),
                "--jmx", "127.0.0.1:" + DaemonProcess.freePort(), "--jmx-password-file", pw.toString()));
        a.addAll(List.of(extra));
        return a;
    }

    @Test
    void passesWhileQemuIoHoldsTheImageLock() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path img = image();
        Path pw = password("rw-------");
        // qemu-io keeps the image open (and its locks taken); its lock is seen in /proc/locks,
        // never probed by opening the image (a probe's own lock can make qemu-io fail to start).
        try (QemuLockHolder holder = QemuLockHolder.start(img, dir.resolve("qemu-io.log"))) {
            byte[] before = Files.readAllBytes(img);
            try (DaemonProcess d = DaemonProcess.start(dir.resolve("check.log"), Map.of(),
                    args(img, pw, "--check-config"))) {
                assertEquals(0, d.awaitExit(60), d.output());
                assertEquals("configuration OK\n", d.output());
            }
            assertTrue(holder.isAlive(), "qemu-io still holds the image");
            assertTrue(QemuLockHolder.writeLocked(img), "the check left qemu-io's lock alone");
            assertArrayEquals(before, Files.readAllBytes(img));
        }
    }

    @Test
    void badTlsCredentialsGiveOneLineAndStatus2() throws Exception {
        QemuTools.assumeAvailable();
        Path img = image();
        Path pw = password("rw-------");
        Path creds = Files.createDirectory(dir.resolve("tls"));
        assertOneLine(args(img, pw, "--check-config", "--nbd-tls-creds", creds.toString()),
                creds.resolve("ca-cert.pem").toString());
    }

    @Test
    void badSettingsGiveOneLineAndStatus2() throws Exception {
        QemuTools.assumeAvailable();
        Path img = image();
        Path pw = password("rw-r--r--");
        byte[] before = Files.readAllBytes(img);
        assertOneLine(args(img, pw, "--check-config"),
                pw + ": password file must be readable only by its owner (it has mode 0644");
        Path gone = dir.resolve("gone");
        assertOneLine(args(img, gone, "--check-config"), gone + ": password file does not exist");
        Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-------"));
        assertOneLine(args(img, pw, "--check-config", "--jmx-access-file", gone.toString()),
                gone + ": access file does not exist");
        assertOneLine(args(img, pw, "--check-config", "--image-dir", gone.toString()),
                "image-dir " + gone + ": not a directory");
        assertOneLine(args(img, pw, "--check-config", "--image", "b=" + img + ",journal=maybe"),
                "image 'b': journal takes on or off, not 'maybe'");
        assertArrayEquals(before, Files.readAllBytes(img));
    }

    @Test
    void startRefusesABadPasswordFileBeforeOpeningAnyImage() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path img = image();
        Path pw = password("rw-r-----");
        byte[] before = Files.readAllBytes(img);
        FileTime mtime = Files.getLastModifiedTime(img);
        String out = assertOneLine(args(img, pw),
                pw + ": password file must be readable only by its owner (it has mode 0640");
        assertFalse(out.contains("[image a]"), "no image was opened:\n" + out);
        assertArrayEquals(before, Files.readAllBytes(img));
        assertEquals(mtime, Files.getLastModifiedTime(img));
        QemuTools.qemuImg("check", img.toString()).requireSuccess();
    }

    /** Runs the daemon, expects status 2 and exactly one output line containing {@code text}. */
    private String assertOneLine(List<String> args, String text) throws Exception {
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("bad.log"), Map.of(), args)) {
            assertEquals(2, d.awaitExit(60), d.output());
            String out = d.output();
            assertEquals(1, out.lines().count(), "one line:\n" + out);
            assertTrue(out.contains(text), "expected '" + text + "' in:\n" + out);
            return out;
        }
    }
}
