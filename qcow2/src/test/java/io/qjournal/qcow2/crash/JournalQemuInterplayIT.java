package io.qjournal.qcow2.crash;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How journalled images meet QEMU: a dirty journal keeps QEMU out until we replay it, and a
 * journal QEMU invalidated (it clears unknown autoclear bits, and `qemu-img check -r leaks`
 * frees the journal clusters, which it then reuses for guest data) is never trusted again.
 */
class JournalQemuInterplayIT {
    private static final JournalOptions JOURNAL =
            JournalOptions.parse("size=256K,block-size=4k,commit-interval=3600s,commit-datasize=64k");
    private static final int K = 1024;
    private static final int M = 1 << 20;

    @TempDir
    Path tmp;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeAvailable("qemu-io");
    }

    @Test
    void dirtyJournalIsRefusedByQemuUntilReplayed() throws IOException {
        Path f = tmp.resolve("live.qcow2");
        Path copy = tmp.resolve("dirty.qcow2");
        Qcow2Image.create(f, new CreateOptions().size(64L * M).clusterSize(65536));
        try (Qcow2Image img = Qcow2Image.open(f, OpenOptions.readWrite().journal(JOURNAL))) {
            fill(img, 0, 256 * K, 0x5a);
            img.flush();
            assertTrue(img.journalStatus().present(), "no live journal after the first write");
            fill(img, M, 64 * K, 0x6b);
            img.flush();
            // What the disk holds if the host died now.
            Files.copy(f, copy);
        }
        Header h = header(copy);
        assertTrue(h.has(Feature.JOURNAL_DIRTY), "an open journalled image must carry the journal dirty bit");

        QemuTools.Result info = QemuTools.qemuImg("info", "-f", "qcow2", copy.toString());
        assertNotEquals(0, info.exitCode(), "qemu-img info opened a dirty journalled image: " + info.stdout());
        assertTrue(info.stderr().contains("journal dirty"), "QEMU's refusal must name the feature: " + info.stderr());
        QemuTools.Result check = QemuTools.qemuImg("check", "-f", "qcow2", copy.toString());
        assertNotEquals(0, check.exitCode(), "qemu-img check opened a dirty journalled image");
        assertTrue(check.stderr().contains("journal dirty"), check.stderr());

        try (Qcow2Image img = Qcow2Image.open(copy, OpenOptions.readWrite())) {
            // Opening for writing replays; closing leaves a plain qcow2 image.
        }
        Header after = header(copy);
        assertFalse(after.has(Feature.JOURNAL_DIRTY), "journal dirty bit still set after replay and close");
        QemuTools.qemuImg("check", "-f", "qcow2", copy.toString()).requireSuccess();
        String out = QemuTools.qemuIo("-f", "qcow2", "-c", "read -P 0x5a 0 256k", "-c", "read -P 0x6b 1M 64k",
                copy.toString()).requireSuccess().stdout();
        assertFalse(out.contains("Pattern verification failed"), "flushed data lost by the replay: " + out);
        QemuTools.qemuIo("-f", "qcow2", "-c", "write -P 0x77 2M 128k", copy.toString()).requireSuccess();
        QemuTools.qemuImg("check", "-f", "qcow2", copy.toString()).requireSuccess();
    }

    @Test
    void journalInvalidatedByQemuIsNeverTrusted() throws IOException {
        Path f = tmp.resolve("inval.qcow2");
        long[] area = dirtyImageWithUnsyncedTransactions(f);
        // QEMU cannot open a dirty image; clear the dirty bit by hand, as a user forcing it might.
        patchFeatures(f, Feature.JOURNAL_DIRTY.mask(), 0);
        QemuTools.qemuIo("-f", "qcow2", "-c", "write -P 0x33 3M 64k", f.toString()).requireSuccess();
        Header h = header(f);
        assertFalse(h.has(Feature.JOURNAL_VALID), "QEMU should have cleared the unknown autoclear bit 60");
        assertNotNull(CrashImages.journalArea(h), "QEMU should have kept the unknown journal header extension");
        // QEMU sees the journal clusters as leaks and frees them, then reuses them for guest data.
        QemuTools.Result repair = QemuTools.qemuImg("check", "-r", "leaks", "-f", "qcow2", f.toString());
        System.out.println("journal area " + area[0] + "+" + area[1] + "; qemu-img check -r leaks: "
                + repair.stdout().strip().lines().filter(l -> l.contains("leaked") || l.contains("corruptions"))
                        .map(String::strip).toList());
        QemuTools.qemuImg("check", "-f", "qcow2", f.toString()).requireSuccess();
        // Small requests: QEMU allocates each one contiguously, so they fit into the freed hole.
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("qemu-io", "-f", "qcow2"));
        for (int i = 0; i < 48; i++) {
            cmd.add("-c");
            cmd.add("write -P 0x44 " + (4 * M + i * 64 * K) + " 64k");
        }
        cmd.add(f.toString());
        QemuTools.run(cmd.toArray(String[]::new)).requireSuccess();
        byte[] expected = guestViaQemu(f, 8 * M);
        byte[] oldArea = slice(Files.readAllBytes(f), area);
        assertTrue(containsRun(oldArea, (byte) 0x44, 4096),
                "premise: QEMU should have reused the freed journal clusters for the 0x44 data");

        try (Qcow2Image img = Qcow2Image.open(f, OpenOptions.readWrite().journal(JOURNAL))) {
            byte[] seen = new byte[8 * M];
            img.read(0, seen, 0, seen.length);
            assertArrayEquals(expected, seen, "guest data differs from QEMU's view after opening with a stale journal");
            fill(img, 6 * M, 64 * K, 0x55);
            img.flush();
        }
        byte[] file = Files.readAllBytes(f);
        assertArrayEquals(oldArea, slice(file, area), "the engine wrote into the invalidated journal's clusters");
        QemuTools.qemuImg("check", "-f", "qcow2", f.toString()).requireSuccess();
        Arrays.fill(expected, 6 * M, 6 * M + 64 * K, (byte) 0x55);
        assertArrayEquals(expected, guestViaQemu(f, 8 * M), "guest data after our open and close");
    }

    @Test
    void handClearedValidBitStopsReplay() throws IOException {
        Path f = tmp.resolve("handcleared.qcow2");
        long[] area = dirtyImageWithUnsyncedTransactions(f);
        // Extension and dirty bit remain; only "journal valid" goes.
        Path control = tmp.resolve("control.qcow2");
        Files.copy(f, control);
        patchFeatures(f, 0, Feature.JOURNAL_VALID.mask());
        byte[] oldArea = slice(Files.readAllBytes(f), area);
        // Control: with the bit intact the replay brings the journalled mappings back.
        byte[] replayed = new byte[512 * K];
        try (Qcow2Image img = Qcow2Image.open(control, OpenOptions.readWrite())) {
            img.read(M, replayed, 0, replayed.length);
        }
        assertTrue(containsRun(replayed, (byte) 0x22, replayed.length), "flushed data lost by a valid replay");
        try (Qcow2Image img = Qcow2Image.open(f, OpenOptions.readWrite())) {
            assertFalse(img.journalStatus().present() && img.journalStatus().valid(),
                    "an invalidated journal was taken as valid");
        }
        assertArrayEquals(oldArea, slice(Files.readAllBytes(f), area),
                "the engine wrote into (replayed or formatted) an invalidated journal's clusters");
        byte[] seen = new byte[512 * K];
        try (Qcow2Image img = Qcow2Image.open(f, OpenOptions.readOnly())) {
            img.read(M, seen, 0, seen.length);
        }
        assertFalse(containsRun(seen, (byte) 0x22, seen.length),
                "the mappings committed only in the invalidated journal are visible: it was replayed");
        Header h = header(f);
        assertFalse(h.has(Feature.JOURNAL_DIRTY), "dirty bit left set: QEMU stays locked out");
        QemuTools.Result r = QemuTools.qemuImg("check", "-f", "qcow2", f.toString());
        // The untrusted journal's clusters may remain counted: leaks (3) are acceptable, corruption is not.
        assertTrue(r.exitCode() == 0 || r.exitCode() == 3, "qemu-img check exit " + r.exitCode() + ": "
                + r.stdout() + r.stderr());
        QemuTools.qemuIo("-f", "qcow2", "-c", "read -P 0x11 0 512k", "-c", "write -P 0x66 8M 64k", f.toString())
                .requireSuccess();
    }

    /**
     * An image copied while open: 0x11 at [0, 512k) checkpointed home, then allocating writes of
     * 0x22 at [1M, 1.5M) committed in the journal only. Returns the journal area {offset, size}.
     */
    private long[] dirtyImageWithUnsyncedTransactions(Path out) throws IOException {
        Path live = tmp.resolve("live-" + out.getFileName());
        Qcow2Image.create(live, new CreateOptions().size(64L * M).clusterSize(4096));
        try (Qcow2Image img = Qcow2Image.open(live, OpenOptions.readWrite().journal(JOURNAL))) {
            fill(img, 0, 512 * K, 0x11);
            img.flush();
            assertTrue(img.journalStatus().present(), "no live journal after the first write");
            img.checkpoint();
            fill(img, M, 512 * K, 0x22);
            img.flush();
            Files.copy(live, out);
        }
        Header h = header(out);
        assertTrue(h.has(Feature.JOURNAL_DIRTY) && h.has(Feature.JOURNAL_VALID), "copy of an open image: " + h);
        long[] area = CrashImages.journalArea(h);
        assertNotNull(area, "no journal extension in an open journalled image");
        return area;
    }

    private static void fill(Qcow2Image img, long off, int len, int v) throws IOException {
        byte[] b = new byte[len];
        Arrays.fill(b, (byte) v);
        img.write(off, b, 0, len);
    }

    private byte[] guestViaQemu(Path f, int len) throws IOException {
        Path raw = tmp.resolve("guest.raw");
        Files.deleteIfExists(raw);
        QemuTools.qemuImg("convert", "-f", "qcow2", "-O", "raw", f.toString(), raw.toString()).requireSuccess();
        byte[] all = new byte[len];
        try (FileChannel ch = FileChannel.open(raw)) {
            ch.read(ByteBuffer.wrap(all), 0);
        }
        Files.delete(raw);
        return all;
    }

    private static boolean containsRun(byte[] b, byte v, int run) {
        int n = 0;
        for (byte x : b) {
            n = x == v ? n + 1 : 0;
            if (n >= run) {
                return true;
            }
        }
        return false;
    }

    private static byte[] slice(byte[] file, long[] area) {
        int from = (int) Math.min(file.length, area[0]);
        int to = (int) Math.min(file.length, area[0] + area[1]);
        return Arrays.copyOfRange(file, from, to);
    }

    private static Header header(Path f) throws IOException {
        try (FileStorage s = FileStorage.open(f, false)) {
            return CrashImages.header(s);
        }
    }

    /** Clears feature bits in place (qcow2 headers carry no checksum). */
    private static void patchFeatures(Path f, long clearIncompatible, long clearAutoclear) throws IOException {
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            for (int[] field : new int[][] {{HeaderCodec.INCOMPATIBLE_FEATURES_OFFSET, 0},
                    {HeaderCodec.AUTOCLEAR_FEATURES_OFFSET, 1}}) {
                long clear = field[1] == 0 ? clearIncompatible : clearAutoclear;
                ByteBuffer b = ByteBuffer.allocate(8);
                ch.read(b, field[0]);
                long v = b.getLong(0) & ~clear;
                b.clear();
                b.putLong(0, v);
                ch.write(b, field[0]);
            }
            ch.force(true);
        }
        assertEquals(0, header(f).incompatibleFeatures() & clearIncompatible);
    }
}
