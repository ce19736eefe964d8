package io.qjournal.qcow2.crash;

import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.storage.Extent;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assertions;

/** Small helpers shared by the crash tests: header peeks, journal area, QEMU availability. */
final class CrashImages {
    /** The backing file name crash images with a backing file carry (raw, next to the image). */
    static final String BACKING_NAME = "crash-backing.raw";

    private CrashImages() {
    }

    static Header header(Storage s) throws IOException {
        byte[] first = new byte[(int) Math.min(s.size(), Header.V3_LENGTH_WITH_COMPRESSION)];
        s.read(0, first, 0, first.length);
        int cs = HeaderCodec.peekClusterSize(first, s.name());
        byte[] cluster = new byte[(int) Math.min(s.size(), cs)];
        s.read(0, cluster, 0, cluster.length);
        return HeaderCodec.decode(cluster, s.size(), s.name());
    }

    /** The journal area {offset, size} named by the header extension, or null without one. */
    static long[] journalArea(Header h) {
        HeaderExtension e = h.extension(HeaderExtension.JOURNAL);
        if (e == null || e.data().length < 16) {
            return null;
        }
        ByteBuffer b = ByteBuffer.wrap(e.data());
        return new long[] {b.getLong(0), b.getLong(8)};
    }

    /** Ranges the checker must count as referenced: the journal clusters, when there are any. */
    static List<Extent> extraRanges(Header h) {
        long[] a = journalArea(h);
        return a == null ? List.of() : List.of(new Extent(a[0], a[1]));
    }

    static boolean journalDirty(Header h) {
        return h.has(Feature.JOURNAL_DIRTY);
    }

    /**
     * Whether qemu-img can be used for the optional QEMU cross-checks: false (with a note) when
     * absent, a failure when QJOURNAL_REQUIRE_QEMU=1 says it must be there.
     */
    static boolean qemuUsable(String why) {
        if (QemuTools.available("qemu-img")) {
            return true;
        }
        if (QemuTools.required()) {
            Assertions.fail("qemu-img is not installed but QJOURNAL_REQUIRE_QEMU=1 (" + why + ")");
        }
        System.out.println("qemu-img not installed: " + why + " skipped");
        return false;
    }

    /** Writes the bytes to a temp file and runs qemu-img check on it; returns null when clean. */
    static String qemuCheck(byte[] image, Path dir, String name, boolean leaksAllowed) throws IOException {
        return qemuCheck(image, null, dir, name, leaksAllowed);
    }

    /** As above, with the raw backing file the image names as {@link #BACKING_NAME} (null: none). */
    static String qemuCheck(byte[] image, byte[] backing, Path dir, String name, boolean leaksAllowed)
            throws IOException {
        if (backing != null) {
            Files.write(dir.resolve(BACKING_NAME), backing);
        }
        Path f = dir.resolve(name + ".qcow2");
        Files.write(f, image);
        try {
            QemuTools.Result r = QemuTools.qemuImg("check", "-f", "qcow2", f.toString());
            if (r.exitCode() == 0 || (leaksAllowed && r.exitCode() == 3)) {
                return null;
            }
            return "qemu-img check exit " + r.exitCode() + ": " + (r.stdout() + r.stderr()).strip();
        } finally {
            Files.deleteIfExists(f);
        }
    }
}
