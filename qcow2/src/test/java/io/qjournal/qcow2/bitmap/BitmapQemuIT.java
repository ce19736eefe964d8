package io.qjournal.qcow2.bitmap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.storage.Extent;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reads bitmap directories that qemu-img wrote. */
class BitmapQemuIT {
    @TempDir
    Path dir;

    @Test
    void readsQemuBitmaps() throws IOException {
        QemuTools.assumeAvailable();
        Path img = dir.resolve("bm.qcow2");
        QemuTools.qemuImg("create", "-f", "qcow2", img.toString(), "256M").requireSuccess();
        QemuTools.qemuImg("bitmap", "--add", img.toString(), "first").requireSuccess();
        QemuTools.qemuImg("bitmap", "--add", "-g", "4k", "--disable", img.toString(), "second").requireSuccess();
        String info = QemuTools.qemuImgJson("info", img.toString()).result().stdout();
        assertTrue(info.contains("\"granularity\": 4096"), info);
        try (FileStorage s = FileStorage.open(img, false)) {
            byte[] first = new byte[65536];
            s.read(0, first, 0, first.length);
            Header h = HeaderCodec.decode(first, s.size(), s.name());
            BitmapDirectory d = BitmapDirectory.read(s, h);
            assertEquals(List.of("first", "second"), d.entries().stream().map(BitmapDirectory.Entry::name).toList());
            assertEquals(16, d.entries().get(0).granularityBits());
            assertEquals(12, d.entries().get(1).granularityBits());
            assertTrue((d.entries().get(0).flags() & BitmapDirectory.FLAG_AUTO) != 0);
            assertFalse((d.entries().get(1).flags() & BitmapDirectory.FLAG_AUTO) != 0);
            // 256 MiB at 4 KiB granularity: 65536 bits = 8 KiB of bitmap = 1 table entry (64 KiB clusters)
            assertEquals(1, d.entries().get(1).tableSize());
            for (Extent r : d.occupiedRanges()) {
                assertTrue(r.offset() > 0 && r.end() <= s.size(), "range inside the file");
            }
        }
    }
}
