package io.qjournal.qcow2.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.storage.Extent;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ImageCheckerTest {

    private static MiniImage withData(int clusterBits, int order) throws IOException {
        MiniImage img = MiniImage.v3(clusterBits, order, 4L << 20);
        img.writeCluster(0, 1);
        img.writeCluster(2L << clusterBits, 2);
        img.writeCluster(1L << clusterBits, 3);
        return img;
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 4, 5, 6})
    void cleanImageOfEveryRefcountWidth(int order) throws IOException {
        MiniImage img = withData(12, order);
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertEquals(0, r.exitCode(), r.messages().toString());
        assertEquals(3, r.allocatedClusters());
        // guest clusters 0, 1, 2 live at host A, A+2, A+1: two discontinuities
        assertEquals(2, r.fragmentedClusters());
        assertEquals(0, r.compressedClusters());
        assertEquals((4L << 20) / 4096, r.totalClusters());
        assertEquals(img.fileEnd(), r.imageEndOffset());
    }

    @Test
    void leakIsReportedAndRepaired() throws IOException {
        MiniImage img = withData(12, 4);
        long extra = img.alloc();
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertEquals(3, r.exitCode());
        assertEquals(1, r.leaks());
        assertTrue(r.messages().contains("Leaked cluster " + (extra >>> 12) + " refcount=1 reference=0"), r.messages().toString());

        CheckResult fixed = ImageChecker.check(img.s, RepairMode.LEAKS);
        assertEquals(1, fixed.leaksFixed());
        assertEquals(0, fixed.exitCode(), fixed.messages().toString());
        assertEquals(0, img.refcount(extra >>> 12));
        assertEquals(0, ImageChecker.check(img.s, RepairMode.NONE).exitCode());
    }

    @Test
    void extraReferencedRangesCountAsReferenced() throws IOException {
        MiniImage img = withData(12, 4);
        long a = img.alloc();
        long b = img.alloc();
        List<Extent> journal = List.of(new Extent(a, 2L * 4096));
        assertEquals(0, ImageChecker.check(img.s, RepairMode.NONE, journal).exitCode());
        CheckResult twice = ImageChecker.check(img.s, RepairMode.NONE, List.of(new Extent(a, 4096), new Extent(a, 4096)));
        assertEquals(2, twice.exitCode(), "a cluster referenced twice with refcount 1 is a corruption");
        assertThrows(Qcow2Exception.class, () -> ImageChecker.check(img.s, RepairMode.NONE, List.of(new Extent(-1, 5))));
        assertTrue(b > a);
    }

    @Test
    void tooLowRefcountIsRaisedAndZeroRefcountRebuildsTheStructure() throws IOException {
        MiniImage img = withData(12, 4);
        long host = img.u64(img.l2EntryOffset(0)) & 0x00ff_ffff_ffff_fe00L;
        img.setRefcount(host >>> 12, 0);
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertEquals(2, r.exitCode());
        // refcount 0 for a used cluster, and its COPIED flag then disagrees with it
        assertEquals(2, r.corruptions(), r.messages().toString());

        CheckResult leaksOnly = ImageChecker.check(img.s, RepairMode.LEAKS);
        assertEquals(1, leaksOnly.exitCode(), "-r leaks cannot rebuild: " + leaksOnly.messages());

        long oldTable = img.header().refcountTableOffset();
        CheckResult all = ImageChecker.check(img.s, RepairMode.ALL);
        assertEquals(0, all.exitCode(), all.messages().toString());
        assertTrue(all.corruptionsFixed() >= 1);
        assertNotEquals(oldTable, img.header().refcountTableOffset(), "a new refcount table was written");
        assertTrue(all.messages().contains("Rebuilding refcount structure"));
        CheckResult again = ImageChecker.check(img.s, RepairMode.NONE);
        assertEquals(0, again.exitCode(), again.messages().toString());
        assertEquals(3, again.allocatedClusters());
    }

    @Test
    void copiedFlagMismatchIsFixedByAll() throws IOException {
        MiniImage img = withData(12, 4);
        long entryOff = img.l2EntryOffset(0);
        img.put64(entryOff, img.u64(entryOff) & ~(1L << 63));
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertEquals(1, r.corruptions());
        assertTrue(r.messages().get(0).startsWith("ERROR OFLAG_COPIED data cluster"), r.messages().toString());
        CheckResult fixed = ImageChecker.check(img.s, RepairMode.ALL);
        assertEquals(1, fixed.corruptionsFixed());
        assertEquals(0, fixed.exitCode());
        assertTrue((img.u64(entryOff) & (1L << 63)) != 0);
    }

    @Test
    void entryPastEndOfFileBecomesZeroCluster() throws IOException {
        MiniImage img = withData(12, 4);
        long entryOff = img.l2EntryOffset(4096);
        long host = img.u64(entryOff) & 0x00ff_ffff_ffff_fe00L;
        img.put64(entryOff, (1L << 63) | (1L << 40));
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertEquals(2, r.exitCode());
        assertTrue(r.messages().stream().anyMatch(m -> m.startsWith("ERROR: counting reference for region exceeding")));
        CheckResult fixed = ImageChecker.check(img.s, RepairMode.ALL);
        assertEquals(0, fixed.exitCode(), fixed.messages().toString());
        assertEquals(1, img.u64(entryOff), "zero flag, no offset");
        assertEquals(0, img.refcount(host >>> 12), "the orphaned cluster was freed as a leak");
    }

    @Test
    void refcountBlockOutsideTheFileIsReported() throws IOException {
        MiniImage img = withData(12, 4);
        img.put64(img.reftableOffset + 8, 1L << 44);
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertEquals(2, r.exitCode());
        assertTrue(r.messages().contains("ERROR refcount block 1 is outside image"), r.messages().toString());
        img.put64(img.reftableOffset + 8, 4096 + 512);
        assertTrue(ImageChecker.check(img.s, RepairMode.NONE).messages()
                .contains("ERROR refcount block 1 is not cluster aligned; refcount table entry corrupted"));
        CheckResult fixed = ImageChecker.check(img.s, RepairMode.ALL);
        assertEquals(0, fixed.exitCode(), fixed.messages().toString());
    }

    @Test
    void hugeTablesInSmallFilesGiveClearErrorsNotOutOfMemory() throws IOException {
        MiniImage img = withData(9, 4);
        // An active L1 of 4M entries (32 MiB) in a file of a few KiB: the header is refused.
        img.writeHeader(img.header().toBuilder().build());
        var h = img.header().toBuilder();
        h.l1Size = 4 << 20;
        img.writeHeader(h.build());
        Qcow2Exception e = assertThrows(Qcow2Exception.class, () -> ImageChecker.check(img.s, RepairMode.NONE));
        assertTrue(e.getMessage().startsWith("mini.qcow2: "), e.getMessage());
    }

    @Test
    void dirtyAndCorruptBitsAreClearedByASuccessfulRepair() throws IOException {
        MiniImage img = withData(12, 4);
        img.alloc();
        img.writeHeader(img.header().toBuilder().set(Feature.DIRTY, true).set(Feature.CORRUPT, true).build());
        assertEquals(3, ImageChecker.check(img.s, RepairMode.NONE).exitCode());
        assertTrue(img.header().has(Feature.DIRTY), "a plain check changes nothing");
        CheckResult r = ImageChecker.check(img.s, RepairMode.LEAKS);
        assertEquals(0, r.exitCode());
        assertTrue(!img.header().has(Feature.DIRTY) && !img.header().has(Feature.CORRUPT));
    }

    @Test
    void repairNeedsAWritableStore() throws IOException {
        MiniImage img = withData(12, 4);
        MemoryStorage ro = new MemoryStorage("ro.qcow2", img.s.toByteArray()) {
            @Override
            public boolean isReadOnly() {
                return true;
            }
        };
        assertEquals(0, ImageChecker.check(ro, RepairMode.NONE).exitCode());
        assertThrows(Qcow2Exception.class, () -> ImageChecker.check(ro, RepairMode.ALL));
    }

    @Test
    void extendedL2BitmapsAreChecked() throws IOException {
        MiniImage img = new MiniImage(16, 4, 8L << 20, 3, true);
        img.writeCluster(0, 1);
        assertEquals(0, ImageChecker.check(img.s, RepairMode.NONE).exitCode());
        long entryOff = img.l2EntryOffset(0);
        img.put64(entryOff + 8, 0x0000_0001_0000_0001L);
        img.put64(img.l2EntryOffset(1L << 16) + 8, 0x3);
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertEquals(2, r.corruptions(), r.messages().toString());
    }

    @Test
    void refcountOverflowIsACorruption() throws IOException {
        MiniImage img = withData(12, 0);
        long host = img.u64(img.l2EntryOffset(0)) & 0x00ff_ffff_ffff_fe00L;
        // A second L2 entry sharing the cluster needs refcount 2, which 1-bit refcounts cannot hold.
        img.put64(img.l2EntryOffset(2L * 4096), host);
        CheckResult r = ImageChecker.check(img.s, RepairMode.NONE);
        assertTrue(r.messages().contains(String.format("ERROR: overflow cluster offset=0x%x", host)), r.messages().toString());
        assertEquals(2, r.exitCode());
    }

    @Test
    void repairsNeverWriteOverOtherMetadata() throws IOException {
        MiniImage img = withData(12, 4);
        // A second L1 entry whose "L2 table" is the header cluster (at 0x200), without COPIED:
        // -r all would "fix" COPIED flags inside it, i.e. write over the header.
        img.put64(img.l1Offset + 8, 0x200);
        byte[] before = new byte[512];
        img.s.read(0, before, 0, 512);
        CheckResult r = ImageChecker.check(img.s, RepairMode.ALL);
        assertEquals(1, r.exitCode(), r.messages().toString());
        assertTrue(r.messages().stream().anyMatch(m -> m.contains("overlaps with qcow2_header")), r.messages().toString());
        assertTrue(img.header().has(Feature.CORRUPT), "image marked corrupt, as QEMU does");
        byte[] after = new byte[512];
        img.s.read(0, after, 0, 512);
        // The refcount structure may have been rebuilt (bytes 48..59 point at it), nothing else moved.
        org.junit.jupiter.api.Assertions.assertArrayEquals(java.util.Arrays.copyOf(before, 48),
                java.util.Arrays.copyOf(after, 48), "header fields before the refcount table pointer");
        org.junit.jupiter.api.Assertions.assertArrayEquals(java.util.Arrays.copyOfRange(before, 80, 512),
                java.util.Arrays.copyOfRange(after, 80, 512), "header after the incompatible features");
    }
}
