package io.qjournal.qcow2.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.testsupport.QemuLockHolder;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Our image locks and QEMU's exclude each other, in both directions. */
class LockingIT {
    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Qemu.assumeAvailable();
    }

    @Test
    void qemuCannotOpenWhatWeHoldForWriting() throws Exception {
        Path img = dir.resolve("held.qcow2");
        QemuImages.create(img, "", 1 << 20);
        try (Qcow2Image ours = Qcow2Image.open(img, OpenOptions.readWrite())) {
            Qemu.Result locked = Qemu.imgResult("info", img.toString());
            assertNotEquals(0, locked.exit(), "qemu-img info succeeded while we hold the write lock: " + locked.all());
            assertTrue(locked.err().contains("lock"), "qemu-img info should fail on the lock: " + locked.err());
            Qemu.Result shared = Qemu.imgResult("info", "-U", img.toString());
            assertEquals(0, shared.exit(), "qemu-img info -U must work while we hold the lock: " + shared.all());
            byte[] b = new byte[512];
            ours.write(0, b, 0, b.length);
        }
        assertEquals(0, Qemu.imgResult("info", img.toString()).exit(), "lock must be released by close()");
    }

    @Test
    void weCannotOpenWhatQemuIoHolds() throws Exception {
        Path img = dir.resolve("qemu-held.qcow2");
        QemuImages.create(img, "", 1 << 20);
        Process qemuIo = new ProcessBuilder("qemu-io", "-f", "qcow2", img.toString())
                .redirectErrorStream(true).redirectOutput(img.resolveSibling(img.getFileName() + ".qemu-io.log").toFile()).start();
        try {
            waitUntilLocked(img, qemuIo);
            IOException e = assertThrows(IOException.class, () -> {
                try (Qcow2Image ours = Qcow2Image.open(img, OpenOptions.readWrite())) {
                    ours.size();
                }
            }, "opening an image qemu-io holds must fail");
            String msg = e.getMessage();
            assertTrue(msg != null && msg.contains(img.getFileName().toString()), "message must name the file: " + msg);
            assertTrue(!msg.contains("\n"), "message must be one line: " + msg);
            assertTrue(msg.toLowerCase().contains("lock") || msg.toLowerCase().contains("in use"),
                    "message should say the image is locked / in use: " + msg);
            // Read-only without locking (like -U) is still allowed.
            try (Qcow2Image ro = Qcow2Image.open(img, OpenOptions.readOnly().lock(false))) {
                assertEquals(1 << 20, ro.size());
            }
        } finally {
            stop(qemuIo);
        }
        try (Qcow2Image ours = Qcow2Image.open(img, OpenOptions.readWrite())) {
            assertEquals(1 << 20, ours.size(), "after qemu-io quits the image opens");
        }
    }

    @Test
    void lockingReadOnlyOpenFailsWhileQemuIoWrites() throws Throwable {
        readOnlyVsWriter();
    }

    private void readOnlyVsWriter() throws Exception {
        Path img = dir.resolve("qemu-writes.qcow2");
        QemuImages.create(img, "", 1 << 20);
        Process qemuIo = new ProcessBuilder("qemu-io", "-f", "qcow2", img.toString())
                .redirectErrorStream(true).redirectOutput(img.resolveSibling(img.getFileName() + ".qemu-io.log").toFile()).start();
        try {
            waitUntilLocked(img, qemuIo);
            // A locking reader needs others not to write, exactly as qemu-img info without -U.
            IOException e = assertThrows(IOException.class, () -> {
                try (Qcow2Image r = Qcow2Image.open(img, OpenOptions.readOnly())) {
                    r.size();
                }
            }, "a locking read-only open must fail while qemu-io writes (qemu-img info does)");
            assertTrue(e.getMessage().contains(img.getFileName().toString()), "message must name the file: " + e);
        } finally {
            stop(qemuIo);
        }
    }

    private static void waitUntilLocked(Path img, Process qemuIo) throws Exception {
        QemuLockHolder.awaitWriteLock(img, qemuIo, img.resolveSibling(img.getFileName() + ".qemu-io.log"));
    }

    private static void stop(Process p) throws Exception {
        try (OutputStream in = p.getOutputStream()) {
            in.write("quit\n".getBytes(StandardCharsets.US_ASCII));
        } catch (IOException ignored) {
            // already gone
        }
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroy(); // this process only, by its handle
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }
}
