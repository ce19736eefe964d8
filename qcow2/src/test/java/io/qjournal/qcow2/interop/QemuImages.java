package io.qjournal.qcow2.interop;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Builds QEMU-made images filled with deterministic patterns (qemu-io write -P). */
public final class QemuImages {
    private QemuImages() {
    }

    /** A virtual size big enough to cross an L2 table for small clusters, small enough to stay fast. */
    public static long sizeFor(int cs, boolean extendedL2) {
        long l2cov = (long) (cs / (extendedL2 ? 16 : 8)) * cs;
        return Math.max(Math.max(4L << 20, 16L * cs), Math.min(2 * l2cov + cs, 24L << 20));
    }

    /**
     * The standard fill: whole clusters, unaligned runs, runs crossing cluster and (when the
     * disk is big enough) L2-table boundaries, zeroed and discarded ranges, the last sector.
     */
    public static List<String> patternCommands(int cs, long size, boolean extendedL2, int salt) {
        long l2cov = (long) (cs / (extendedL2 ? 16 : 8)) * cs;
        List<String> c = new ArrayList<>();
        c.add(w(0x11 + salt, 0, 3L * cs));
        c.add(w(0x22 + salt, 5L * cs + 123, 1000));
        c.add(w(0x33 + salt, 7L * cs - 100, cs + 200));
        if (l2cov + 1400 < size) {
            c.add(w(0x44 + salt, l2cov - 700, 1400));
        }
        c.add(w(0x55 + salt, 9L * cs, 3L * cs));
        c.add("write -z " + (10L * cs) + " " + cs);
        c.add("write -z " + (9L * cs + 100) + " 50");
        c.add(w(0x66 + salt, size - 512, 512));
        c.add(w(0x77 + salt, size / 2 + 3, 4096));
        c.add(w(0x88 + salt, 13L * cs, 2L * cs));
        c.add("discard " + (13L * cs) + " " + cs);
        return c;
    }

    static String w(int pattern, long off, long len) {
        return "write -P 0x" + Integer.toHexString(pattern & 0xff) + " " + off + " " + len;
    }

    /** qemu-img create -f qcow2 -o OPTS path size, then the standard fill. */
    public static Path createFilled(Path dir, String name, String opts, int cs, long size, boolean extendedL2)
            throws IOException {
        Path p = dir.resolve(name);
        create(p, opts, size);
        Qemu.io(p, "qcow2", patternCommands(cs, size, extendedL2, 0));
        return p;
    }

    public static void create(Path p, String opts, long size) throws IOException {
        if (opts == null || opts.isEmpty()) {
            Qemu.img("create", "-q", "-f", "qcow2", p.toString(), Long.toString(size));
        } else {
            Qemu.img("create", "-q", "-f", "qcow2", "-o", opts, p.toString(), Long.toString(size));
        }
    }
}
