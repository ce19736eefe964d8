package io.qjournal.qcow2.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.snapshot.SnapshotEntry;
import io.qjournal.qcow2.snapshot.SnapshotTable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Snapshot-related checks on hand-built images. */
class SnapshotCheckTest {

    /** An image with data and one snapshot sharing it, with refcounts and COPIED flags right. */
    private static MiniImage withSnapshot() throws IOException {
        MiniImage img = MiniImage.v3(12, 4, 4L << 20);
        long data = img.writeCluster(0, 1);
        long l2 = img.l2For(0, false);
        long snapL1 = img.alloc();
        img.put64(snapL1, l2);
        img.setRefcount(l2 >>> 12, 2);
        img.setRefcount(data >>> 12, 2);
        img.put64(img.l1Offset, l2);
        img.put64(img.l2EntryOffset(0), data);
        addTable(img, List.of(new SnapshotEntry(snapL1, 1, "1", "s", 0, 0, 0, 0, 4L << 20, -1, null)));
        return img;
    }

    private static void addTable(MiniImage img, List<SnapshotEntry> entries) throws IOException {
        byte[] table = SnapshotTable.encode(entries);
        long off = img.alloc();
        img.s.write(off, table, 0, table.length);
        var h = img.header().toBuilder();
        h.nbSnapshots = entries.size();
        h.snapshotsOffset = off;
        img.writeHeader(h.build());
    }

    private static long tableOffset(MiniImage img) throws IOException {
        return img.header().snapshotsOffset();
    }

    @Test
    void snapshotsAreCountedAsReferences() throws IOException {
        MiniImage img = withSnapshot();
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertEquals(0, r.exitCode(), r.messages().toString());
        assertEquals(1, r.allocatedClusters());
    }

    @Test
    void hugeSnapshotL1InASmallFileIsACorruptionNotAnAllocation() throws IOException {
        MiniImage img = withSnapshot();
        img.s.write(tableOffset(img) + 8, ByteBuffer.allocate(4).putInt(0, SnapshotTable.MAX_L1_ENTRIES));
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertEquals(2, r.exitCode());
        assertTrue(r.messages().get(0).startsWith("ERROR: counting reference for region exceeding the end of the file"),
                r.messages().toString());
        img.s.write(tableOffset(img) + 8, ByteBuffer.allocate(4).putInt(0, SnapshotTable.MAX_L1_ENTRIES + 1));
        assertTrue(ImageChecker.check(img.s, RepairMode.NONE).messages().get(0)
                .startsWith("ERROR snapshot 1 (s) l1_size=0x400001: L1 table is too large"));
    }

    @Test
    void unalignedSnapshotL1IsACorruption() throws IOException {
        MiniImage img = withSnapshot();
        long sn = tableOffset(img);
        img.put64(sn, img.u64(sn) + 512);
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertTrue(r.messages().get(0).contains("L1 table is not cluster aligned; snapshot table entry corrupted"),
                r.messages().toString());
        assertEquals(2, r.exitCode());
    }

    @Test
    void incompleteEntriesOfVersion3AreCorruptions() throws IOException {
        MiniImage img = withSnapshot();
        // shrink the extra data to 8 bytes: id and name move up
        long sn = tableOffset(img);
        img.s.write(sn + 36, ByteBuffer.allocate(4).putInt(0, 8));
        img.s.write(sn + 48, new byte[] {'1', 's'}, 0, 2);
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertTrue(r.messages().contains("ERROR snapshot table entry 0 is incomplete"), r.messages().toString());
        assertEquals(1, r.corruptions());

        long oldTable = tableOffset(img);
        CheckResult fixed = ImageChecker.check(img.s, RepairMode.ALL);
        assertEquals(0, fixed.exitCode(), fixed.messages().toString());
        assertEquals(1, fixed.corruptionsFixed());
        assertTrue(tableOffset(img) != oldTable, "the table moved to new clusters");
        assertEquals(0, img.refcount(oldTable >>> 12), "the old table was freed");
        SnapshotEntry e = SnapshotTable.read(img.s, img.header()).get(0);
        assertEquals(24, e.extraData().length);
        assertEquals(4L << 20, e.diskSize(), "absent disk size filled in from the image");
        assertEquals("s", e.name());
    }

    @Test
    void oversizedExtraDataIsCutByRepairAll() throws IOException {
        MiniImage img = MiniImage.v3(12, 4, 4L << 20);
        byte[] big = new byte[1100];
        ByteBuffer.wrap(big).putLong(8, 4L << 20).putLong(16, -1);
        big[1099] = 42;
        ByteBuffer entry = ByteBuffer.allocate(40 + big.length + 2);
        entry.putLong(0).putInt(0).putShort((short) 1).putShort((short) 1).putLong(0).putLong(0).putInt(0)
                .putInt(big.length).put(big).put((byte) '1').put((byte) 'n');
        long off = img.alloc();
        img.s.write(off, entry.array(), 0, entry.capacity());
        var h = img.header().toBuilder();
        h.nbSnapshots = 1;
        h.snapshotsOffset = off;
        img.writeHeader(h.build());
        assertEquals(1, ImageChecker.check(img.s, RepairMode.NONE).exitCode(), "QEMU refuses such a table");
        CheckResult fixed = ImageChecker.check(img.s, RepairMode.ALL);
        assertEquals(0, fixed.exitCode(), fixed.messages().toString());
        assertEquals(1, fixed.corruptionsFixed());
        SnapshotEntry e = SnapshotTable.read(img.s, img.header()).get(0);
        assertEquals(SnapshotTable.MAX_EXTRA_DATA, e.extraData().length);
        assertEquals("n", e.name());
    }

    @Test
    void unreadableSnapshotTableFailsTheCheck() throws IOException {
        MiniImage img = withSnapshot();
        img.s.write(tableOffset(img) + 36, ByteBuffer.allocate(4).putInt(0, 5000));
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertEquals(1, r.exitCode());
        assertTrue(r.messages().get(0).startsWith("ERROR failed to read the snapshot table"), r.messages().toString());
    }
}
