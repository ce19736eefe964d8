package io.qjournal.qcow2.testsupport;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QemuLockHolderTest {
    @TempDir
    Path dir;

    @Test
    void aLineCoversTheBytesOfItsRangeOnly() {
        String line = "4: OFDLCK ADVISORY  READ -1 fe:00:1098862 100 101";
        assertTrue(QemuLockHolder.covers(line, "fe:00:1098862", 101));
        assertTrue(QemuLockHolder.covers(line, "fe:00:1098862", 100));
        assertFalse(QemuLockHolder.covers(line, "fe:00:1098862", 102));
        assertFalse(QemuLockHolder.covers(line, "fe:00:1098863", 101));
        assertTrue(QemuLockHolder.covers("7: POSIX  ADVISORY  WRITE 12 08:01:42 0 EOF", "08:01:42", 1L << 40));
        assertFalse(QemuLockHolder.covers("7: -> POSIX  ADVISORY  WRITE 12 08:01:42 0 EOF", "08:01:42", 5),
                "a blocked waiter holds nothing");
    }

    @Test
    void seesALockThisProcessHolds() throws Exception {
        Path f = Files.write(dir.resolve("f"), new byte[4096]);
        assertFalse(QemuLockHolder.locked(f, QemuLockHolder.WRITE_PERM_BYTE));
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE);
                FileLock lock = ch.lock(QemuLockHolder.WRITE_PERM_BYTE, 1, true)) {
            assertTrue(QemuLockHolder.locked(f, QemuLockHolder.WRITE_PERM_BYTE),
                    QemuLockHolder.deviceAndInode(f) + " not in " + Files.readString(Path.of("/proc/locks")));
            assertFalse(QemuLockHolder.locked(f, 100));
        }
        assertFalse(QemuLockHolder.locked(f, QemuLockHolder.WRITE_PERM_BYTE));
    }
}
