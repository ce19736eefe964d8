package io.qjournal.qcow2.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.BlockDevice;
import io.qjournal.qcow2.BlockStatus;
import io.qjournal.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Byte-for-byte and block-status comparisons between our engine and QEMU's view. */
public final class DiskCompare {
    static final int CHUNK = 1 << 20;

    private DiskCompare() {
    }

    /** Guest bytes [from, from+len) read through {@code dev} equal the same range of {@code raw}. */
    public static void assertSameAsRaw(String what, BlockDevice dev, Path raw, long from, long len) throws IOException {
        try (FileChannel ch = FileChannel.open(raw, StandardOpenOption.READ)) {
            byte[] ours = new byte[CHUNK];
            byte[] theirs = new byte[CHUNK];
            for (long off = from; off < from + len; off += CHUNK) {
                int n = (int) Math.min(CHUNK, from + len - off);
                dev.read(off, ours, 0, n);
                Arrays.fill(theirs, 0, n, (byte) 0);
                ByteBuffer bb = ByteBuffer.wrap(theirs, 0, n);
                long p = off;
                while (bb.hasRemaining()) {
                    int r = ch.read(bb, p);
                    if (r < 0) {
                        break; // past the raw file's end: zeros, as the guest sees it
                    }
                    p += r;
                }
                int m = Arrays.mismatch(ours, 0, n, theirs, 0, n);
                if (m >= 0) {
                    fail(what + ": guest byte at offset " + (off + m) + " (0x" + Long.toHexString(off + m)
                            + ") is 0x" + Integer.toHexString(ours[m] & 0xff) + " through our engine but 0x"
                            + Integer.toHexString(theirs[m] & 0xff) + " through qemu-img convert");
                }
            }
        }
    }

    public static void assertWholeDiskSame(String what, BlockDevice dev, Path raw) throws IOException {
        assertSameAsRaw(what, dev, raw, 0, dev.size());
    }

    /** One extent of qemu-img map --output=json. */
    public record MapEntry(long start, long length, int depth, boolean present, boolean zero, boolean data,
            long offset) {
        static MapEntry of(Map<String, Object> m) {
            return new MapEntry(Qemu.num(m.get("start")), Qemu.num(m.get("length")), (int) Qemu.num(m.get("depth")),
                    !Boolean.FALSE.equals(m.get("present")), Boolean.TRUE.equals(m.get("zero")),
                    Boolean.TRUE.equals(m.get("data")), m.containsKey("offset") ? Qemu.num(m.get("offset")) : -1);
        }
    }

    public static List<MapEntry> map(Path image) throws IOException {
        List<MapEntry> l = new ArrayList<>();
        for (Map<String, Object> m : Qemu.map(image)) {
            l.add(MapEntry.of(m));
        }
        return l;
    }

    /** The part of a map inside [from, from+len). */
    public static List<MapEntry> clip(List<MapEntry> map, long from, long len) {
        List<MapEntry> l = new ArrayList<>();
        for (MapEntry e : map) {
            long s = Math.max(from, e.start());
            long t = Math.min(from + len, e.start() + e.length());
            if (s < t) {
                long off = e.offset() < 0 ? -1 : e.offset() + (s - e.start());
                l.add(new MapEntry(s, t - s, e.depth(), e.present(), e.zero(), e.data(), off));
            }
        }
        return l;
    }

    /**
     * blockStatus agrees with qemu-img map for a single-layer image: allocated = present, same
     * data flag, same host offset for uncompressed data, and zero wherever we say zero. QEMU
     * may additionally call a data cluster zero when the host file has a hole there (it asks the
     * file system; we do not), so that one direction is allowed.
     */
    public static void assertBlockStatusMatchesMap(String what, Qcow2Image img, List<MapEntry> map) throws IOException {
        long covered = map.isEmpty() ? 0 : map.get(0).start();
        long first = covered;
        for (MapEntry e : map) {
            assertEquals(covered, e.start(), what + ": qemu-img map has a gap");
            long pos = e.start();
            long end = e.start() + e.length();
            while (pos < end) {
                BlockStatus bs = img.blockStatus(pos, end - pos);
                String at = what + " at guest offset " + pos + " (qemu extent " + e + ", ours " + bs + ")";
                assertEquals(pos, bs.offset(), at + ": blockStatus offset");
                assertTrue(bs.length() > 0, at + ": blockStatus length must be positive");
                assertEquals(e.present(), bs.allocated(), at + ": allocated");
                assertEquals(e.data(), bs.data(), at + ": data");
                if (bs.zero()) {
                    assertTrue(e.zero(), at + ": we report zero, QEMU does not");
                } else if (e.zero()) {
                    assertTrue(e.data(), at + ": QEMU reports zero, we do not");
                }
                if (e.data() && e.offset() >= 0) {
                    assertEquals(e.offset() + (pos - e.start()), bs.hostOffset(), at + ": host offset");
                }
                if (e.data() && e.offset() < 0) {
                    assertTrue(bs.compressed(), at + ": QEMU shows data without an offset (compressed)");
                }
                pos += Math.min(bs.length(), end - pos);
            }
            covered = end;
        }
        if (first == 0 && map.size() > 0 && map.get(map.size() - 1).start() + map.get(map.size() - 1).length() >= img.size()) {
            assertEquals(img.size(), covered, what + ": qemu-img map does not cover the disk");
        }
    }

    /**
     * For the top of a backing chain: a range is allocated in our top layer exactly when
     * qemu-img map attributes it to depth 0.
     */
    public static void assertTopLayerAllocationMatchesMap(String what, Qcow2Image img, List<MapEntry> map)
            throws IOException {
        for (MapEntry e : map) {
            long pos = e.start();
            long end = e.start() + e.length();
            boolean top = e.present() && e.depth() == 0;
            while (pos < end) {
                BlockStatus bs = img.blockStatus(pos, end - pos);
                assertTrue(bs.length() > 0, what + ": blockStatus length must be positive at " + pos);
                assertEquals(top, bs.allocated(), what + " at guest offset " + pos + " (qemu extent " + e + ", ours "
                        + bs + "): allocated in the top layer");
                if (top) {
                    assertEquals(e.data(), bs.data(), what + " at " + pos + ": data (" + e + ", " + bs + ")");
                }
                pos += Math.min(bs.length(), end - pos);
            }
        }
    }
}
