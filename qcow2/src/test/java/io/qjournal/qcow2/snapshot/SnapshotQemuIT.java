package io.qjournal.qcow2.snapshot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reads snapshot tables qemu-img wrote and re-encodes them byte for byte. */
class SnapshotQemuIT {
    @TempDir
    Path dir;

    @Test
    void readsAndReencodesQemuTables() throws IOException {
        QemuTools.assumeAvailable("qemu-io");
        Path img = dir.resolve("snap.qcow2");
        QemuTools.qemuImg("create", "-f", "qcow2", img.toString(), "32M").requireSuccess();
        QemuTools.qemuIo("-c", "write 0 1M", img.toString()).requireSuccess();
        String[] names = {"first", "a much longer snapshot name with spaces", "x"};
        for (String n : names) {
            QemuTools.qemuImg("snapshot", "-c", n, img.toString()).requireSuccess();
        }
        QemuTools.qemuImg("resize", img.toString(), "64M").requireSuccess();
        QemuTools.qemuImg("snapshot", "-c", "after-resize", img.toString()).requireSuccess();
        QemuTools.qemuImg("snapshot", "-d", "x", img.toString()).requireSuccess();
        String info = QemuTools.qemuImgJson("info", img.toString()).result().stdout();

        try (FileStorage s = FileStorage.open(img, false)) {
            byte[] first = new byte[65536];
            s.read(0, first, 0, first.length);
            Header h = HeaderCodec.decode(first, s.size(), s.name());
            List<SnapshotEntry> entries = SnapshotTable.read(s, h);
            assertEquals(List.of("1", "2", "4"), entries.stream().map(SnapshotEntry::id).toList());
            assertEquals(List.of("first", names[1], "after-resize"), entries.stream().map(SnapshotEntry::name).toList());
            assertEquals(32L << 20, entries.get(0).diskSize());
            assertEquals(64L << 20, entries.get(2).diskSize());
            for (SnapshotEntry e : entries) {
                assertTrue(info.contains("\"date-sec\": " + e.dateSec()), info);
                assertTrue(info.contains("\"date-nsec\": " + e.dateNsec()), info);
                assertEquals(h.l1Size(), e.l1Size(), "snapshots copy the active L1 size");
                assertEquals(24, e.extraData().length);
            }
            byte[] raw = new byte[(int) SnapshotTable.readUnvalidatedL1(s, h).sizeBytes()];
            s.read(h.snapshotsOffset(), raw, 0, raw.length);
            assertArrayEquals(raw, SnapshotTable.encode(entries));
        }
    }
}
