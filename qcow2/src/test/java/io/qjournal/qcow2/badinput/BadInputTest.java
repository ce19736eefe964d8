package io.qjournal.qcow2.badinput;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.badinput.BadImageCatalog.Case;
import io.qjournal.qcow2.badinput.BadImageCatalog.Outcome;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Opens every image of {@link BadImageCatalog} read-only and read-write and reads the whole
 * disk: the engine must either accept it cleanly (where QEMU does) or refuse it with one clear
 * Qcow2Exception line naming the file and the problem. Never another exception type, a hang,
 * an OutOfMemoryError, or a modified file.
 */
class BadInputTest {
    private static final Duration LIMIT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    static List<Case> cases() {
        return BadImageCatalog.all();
    }

    @Test
    void catalogIsLargeEnough() {
        List<Case> all = cases();
        assertTrue(all.size() >= 40, "catalog has only " + all.size() + " cases");
        assertEquals(all.size(), all.stream().map(Case::name).distinct().count(), "case names must be unique");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void openAndReadEverything(Case c) throws Throwable {
        openAndRead(c);
    }

    private void openAndRead(Case c) throws Exception {
        Path file = dir.resolve(BadImageCatalog.fileName(c.name()));
        Files.write(file, c.bytes().get());
        String before = sha256(file);

        Throwable ro = assertTimeoutPreemptively(LIMIT, () -> attempt(file, OpenOptions.readOnly(), c.expected()),
                c.name() + ": read-only open + read did not finish in " + LIMIT.toSeconds() + " s");
        judge(c, "read-only", c.ro(), ro, file);
        assertEquals(before, sha256(file), c.name() + ": a read-only open modified the file");

        boolean readable = ro == null;
        Throwable rw = assertTimeoutPreemptively(LIMIT, () -> attemptWrite(file, c.expected(), readable),
                c.name() + ": read-write open + read + write did not finish in " + LIMIT.toSeconds() + " s");
        judge(c, "read-write", c.rw(), rw, file);
        if (rw instanceof WriteFailure wf) {
            // Refused at the write, not at open: the file may have changed, but an image that
            // was readable must stay readable.
            if (readable) {
                Throwable after = attempt(file, OpenOptions.readOnly(), null);
                if (after != null) {
                    fail(c.name() + ": a refused write (" + wf.getCause().getMessage()
                            + ") left the image unreadable: " + stack(after));
                }
            }
        } else if (rw != null) {
            assertEquals(before, sha256(file), c.name() + ": a refused read-write open modified the file");
        }
    }

    /** Opens and reads the whole disk; returns what was thrown, or null. */
    private static Throwable attempt(Path file, OpenOptions opts, byte[] expected) {
        try (Qcow2Image img = Qcow2Image.open(file, opts)) {
            long size = img.size();
            byte[] buf = new byte[64 * 1024];
            for (long off = 0; off < size; off += buf.length) {
                int n = (int) Math.min(buf.length, size - off);
                img.read(off, buf, 0, n);
                if (expected != null) {
                    byte[] want = Arrays.copyOfRange(expected, (int) off, (int) off + n);
                    byte[] got = Arrays.copyOf(buf, n);
                    if (!Arrays.equals(want, got)) {
                        int i = Arrays.mismatch(want, got);
                        return new AssertionError("guest data differs at offset " + (off + i) + ": expected 0x"
                                + Integer.toHexString(want[i] & 0xff) + ", read 0x" + Integer.toHexString(got[i] & 0xff));
                    }
                }
            }
            return null;
        } catch (Throwable t) {
            return t;
        }
    }

    /**
     * Read-write: open, read everything, then write (an overwrite at 0 and an allocating
     * write at 2 MiB, which touches the refcounts). Whatever the engine accepts it must leave
     * readable, with our bytes in place.
     */
    private static Throwable attemptWrite(Path file, byte[] expected, boolean readableBefore) {
        Throwable t = attempt(file, OpenOptions.readWrite(), expected);
        if (t != null) {
            return t;
        }
        byte[] small = new byte[512];
        Arrays.fill(small, (byte) 0x77);
        byte[] cluster = new byte[4096];
        Arrays.fill(cluster, (byte) 0x78);
        try (Qcow2Image img = Qcow2Image.open(file, OpenOptions.readWrite())) {
            img.write(0, small, 0, small.length);
            img.write(2L << 20, cluster, 0, cluster.length);
            img.flush();
        } catch (Throwable e) {
            return e instanceof Qcow2Exception q ? new WriteFailure(q) : e;
        }
        if (!readableBefore) {
            return null;
        }
        try (Qcow2Image img = Qcow2Image.open(file, OpenOptions.readOnly())) {
            byte[] a = new byte[small.length];
            byte[] b = new byte[cluster.length];
            img.read(0, a, 0, a.length);
            img.read(2L << 20, b, 0, b.length);
            if (!Arrays.equals(a, small) || !Arrays.equals(b, cluster)) {
                return new AssertionError("data written through a read-write open does not read back");
            }
            return null;
        } catch (Throwable e) {
            return new AssertionError("the image opened and accepted writes, but cannot be read back afterwards: " + e, e);
        }
    }

    /** A Qcow2Exception thrown by a write after a successful read-write open. */
    static final class WriteFailure extends Qcow2Exception {
        WriteFailure(Qcow2Exception cause) {
            super("", "", cause);
        }

        @Override
        public String getMessage() {
            return getCause().getMessage();
        }
    }

    private static void judge(Case c, String mode, Outcome want, Throwable got, Path file) {
        String what = c.name() + " (" + mode + ")";
        if (got instanceof AssertionError) {
            fail(what + ": " + got.getMessage());
        }
        if (got == null) {
            if (want == Outcome.REJECT) {
                fail(what + ": opened and read without error, but must be refused with a message matching /"
                        + c.pattern() + "/");
            }
            return;
        }
        if (want == Outcome.ACCEPT) {
            fail(what + ": must be accepted but threw " + stack(got));
        }
        if (!(got instanceof Qcow2Exception)) {
            fail(what + ": threw " + got.getClass().getName() + " instead of a Qcow2Exception: " + stack(got));
        }
        String msg = got.getMessage();
        assertFalse(msg == null || msg.isBlank(), what + ": empty message");
        assertFalse(msg.contains("\n"), what + ": message is not one line: " + msg);
        assertTrue(msg.contains(file.getFileName().toString()), what + ": message does not name the file: " + msg);
        if (want == Outcome.REJECT) {
            assertTrue(Pattern.compile(c.pattern(), Pattern.CASE_INSENSITIVE).matcher(msg).find(),
                    what + ": message does not match /" + c.pattern() + "/: " + msg);
        }
    }

    private static String stack(Throwable t) {
        StringWriter w = new StringWriter();
        t.printStackTrace(new PrintWriter(w));
        return w.toString();
    }

    static String sha256(Path file) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }

    @Test
    void baseImageMatchesItsDocumentedGuestContents() {
        // Guards the catalog itself: the accept rows compare against this view.
        BaseImage b = new BaseImage();
        byte[] file = b.build();
        assertEquals(8 * 4096, file.length);
        byte[] guest = b.expectedGuest();
        assertEquals((byte) 0xa5, guest[0]);
        assertArrayEquals(BaseImage.compressedPattern(4096), Arrays.copyOfRange(guest, 4096, 8192));
        assertTrue(b.compressedBytes < 4096, "pattern must compress");
    }

    @Test
    void baseImagesAreCleanForTheChecker() throws Exception {
        // The accept rows are only meaningful if the hand-built bases are really valid.
        BaseImage[] bases = {new BaseImage(), new BaseImage().version(2), new BaseImage().snapshot(true),
            new BaseImage().clusterBits(14).extendedL2(true)};
        for (BaseImage b : bases) {
            CheckResult r = ImageChecker.check(new MemoryStorage("base.qcow2", b.build()), RepairMode.NONE);
            assertTrue(r.isClean(), "hand-built base image is not clean: " + r.messages());
        }
    }
}
