package io.qjournal.cli.crash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.HeaderCodec;
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
 * `qjournal replay FILE` on what a crash leaves: an image whose file was captured while it was
 * open with a journal (journal dirty, QEMU locked out) becomes a plain image QEMU checks clean
 * and reads the flushed data from; an invalidated journal is removed without being replayed.
 */
class ReplayCommandCrashIT {
    private static final JournalOptions JOURNAL =
            JournalOptions.parse("size=256K,block-size=4k,commit-interval=3600s,commit-datasize=64k");

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeAvailable("qemu-io");
    }

    @Test
    void replayUnlocksADirtyImageForQemu() throws IOException {
        Path copy = dirtyCopy("dirty.qcow2");
        QemuTools.Result info = QemuTools.qemuImg("info", copy.toString());
        assertNotEquals(0, info.exitCode());
        assertTrue(info.stderr().contains("journal dirty"), info.stderr());

        QemuTools.Result r = qjournal("replay", copy.toString());
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains("journal replayed"), r.stdout());
        QemuTools.qemuImg("check", "-f", "qcow2", copy.toString()).requireSuccess();
        String out = QemuTools.qemuIo("-f", "qcow2", "-c", "read -P 0x5a 0 256k", "-c", "read -P 0x6b 1M 64k",
                copy.toString()).requireSuccess().stdout();
        assertFalse(out.contains("Pattern verification failed"), out);

        QemuTools.Result again = qjournal("replay", copy.toString());
        assertEquals(0, again.exitCode(), again.stdout() + again.stderr());
        assertTrue(again.stdout().contains("no journal"), again.stdout());
    }

    @Test
    void replayRemovesAnInvalidatedJournalWithoutReplaying() throws IOException {
        Path copy = dirtyCopy("invalid.qcow2");
        try (FileChannel ch = FileChannel.open(copy, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(8);
            ch.read(b, HeaderCodec.AUTOCLEAR_FEATURES_OFFSET);
            b.putLong(0, b.getLong(0) & ~Feature.JOURNAL_VALID.mask());
            b.clear();
            ch.write(b, HeaderCodec.AUTOCLEAR_FEATURES_OFFSET);
        }
        QemuTools.Result r = qjournal("replay", copy.toString());
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains("invalidated"), r.stdout());
        QemuTools.Result check = QemuTools.qemuImg("check", "-f", "qcow2", copy.toString());
        // The untrusted journal's clusters may stay counted (leaks, exit 3); corruption is not acceptable.
        assertTrue(check.exitCode() == 0 || check.exitCode() == 3, check.stdout() + check.stderr());
    }

    /** A copy of an image's file taken while it is open with a journal, after two flushed writes. */
    private Path dirtyCopy(String name) throws IOException {
        Path live = dir.resolve("live-" + name);
        Path copy = dir.resolve(name);
        Qcow2Image.create(live, new CreateOptions().size(64L << 20).clusterSize(65536));
        try (Qcow2Image img = Qcow2Image.open(live, OpenOptions.readWrite().journal(JOURNAL))) {
            write(img, 0, 256 << 10, 0x5a);
            img.flush();
            assertTrue(img.journalStatus().present(), "no live journal after the first write");
            write(img, 1 << 20, 64 << 10, 0x6b);
            img.flush();
            Files.copy(live, copy);
        }
        return copy;
    }

    private static void write(Qcow2Image img, long off, int len, int v) throws IOException {
        byte[] b = new byte[len];
        Arrays.fill(b, (byte) v);
        img.write(off, b, 0, len);
    }

    /** Runs bin/qjournal of this checkout (QJOURNAL_HOME, else the parent of the module directory). */
    private static QemuTools.Result qjournal(String... args) {
        String h = System.getenv("QJOURNAL_HOME");
        Path home = h != null ? Path.of(h) : Path.of(System.getProperty("user.dir")).getParent();
        Path launcher = home.resolve("bin/qjournal");
        assertTrue(Files.isExecutable(launcher), "bin/qjournal not found under " + home + " (set QJOURNAL_HOME)");
        String[] cmd = new String[args.length + 1];
        cmd[0] = launcher.toString();
        System.arraycopy(args, 0, cmd, 1, args.length);
        return QemuTools.run(cmd);
    }
}
