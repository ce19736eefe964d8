package io.qjournal.qcow2.interop;

import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Persistent dirty bitmaps must not go stale silently. An engine that does not update bitmaps
 * must clear the "bitmaps" autoclear bit when it writes (qcow2 spec: autoclear bits are
 * cleared by writers that do not understand them), or mark the bitmaps in-use; otherwise an
 * incremental backup based on the bitmap would miss our writes.
 */
class BitmapIT {
    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Qemu.assumeAvailable();
    }

    @Test
    void ourWritesDoNotLeaveAConsistentLookingStaleBitmap() throws Exception {
        Path img = dir.resolve("bm.qcow2");
        QemuImages.create(img, "", 8L << 20);
        Qemu.img("bitmap", "--add", img.toString(), "b0");
        Qemu.io(img, "write -P 0x01 0 64k");
        try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readWrite())) {
            byte[] b = new byte[65536];
            Arrays.fill(b, (byte) 7);
            q.write(1 << 20, b, 0, b.length);
        }
        Qemu.checkClean(img);
        long autoclear = ByteBuffer.wrap(Files.readAllBytes(img)).getLong(88);
        List<Map<String, Object>> bitmaps = bitmaps(Qemu.info(img));
        if ((autoclear & 1) == 0) {
            return; // QEMU will ignore (and drop) the stale bitmaps: safe
        }
        for (Map<String, Object> bm : bitmaps) {
            List<?> flags = (List<?>) bm.get("flags");
            if (flags == null || !flags.contains("in-use")) {
                fail("after our write at 1 MiB the bitmaps autoclear bit is still set and bitmap " + bm.get("name")
                        + " still looks consistent (flags " + flags + "): a backup based on it would miss the write");
            }
        }
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> bitmaps(Map<String, Object> info) {
        Object o = Qemu.formatSpecific(info).get("bitmaps");
        return o == null ? List.of() : (List<Map<String, Object>>) o;
    }
}
