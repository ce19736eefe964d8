package io.qjournal.cli;

import io.qjournal.qcow2.BlockStatus;
import io.qjournal.qcow2.Qcow2Image;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Interprets qemu-io commands with qemu-io's output (qemu-io-cmds.c): the report lines, the
 * pattern mismatch line and the parse errors, so expectations written for qemu-io still hold.
 */
final class IoCommands {
    /** qemu-io's BDRV_REQUEST_MAX_BYTES. */
    static final long MAX_REQUEST = 2147483136L;
    private static final int CHUNK = 8 << 20;

    private final Disk disk;
    private final boolean readOnly;

    IoCommands(Disk disk, boolean readOnly) {
        this.disk = disk;
        this.readOnly = readOnly;
    }

    /** Runs one command line; false when it failed. */
    boolean run(String line) {
        List<String> argv = new ArrayList<>(Arrays.asList(line.trim().split("[ \t]+")));
        String name = argv.get(0);
        try {
            switch (name) {
                case "read": case "r":
                    return read(parse(argv, "CqvP:s:l:b", 2, 2));
                case "write": case "w":
                    return write(parse(argv, "CqzcufnbP:", 2, 2));
                case "discard": case "d":
                    return discard(parse(argv, "Cq", 2, 2));
                case "flush": case "f":
                    parse(argv, "", 0, 0);
                    disk.flush();
                    return true;
                case "map":
                    parse(argv, "", 0, 0);
                    return map();
                case "abort":
                    // As qemu-io's abort: die on the spot, nothing closed or synced (crash tests).
                    parse(argv, "", 0, 0);
                    System.out.flush();
                    Runtime.getRuntime().halt(134);
                    return false;
                default:
                    System.out.flush();
                    System.err.println("command \"" + name + "\" not found");
                    return false;
            }
        } catch (UsageError e) {
            System.out.flush();
            System.err.println(e.getMessage());
            return false;
        } catch (ParseError e) {
            System.out.println("Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- " + e.getMessage());
            return false;
        } catch (IOException | RuntimeException e) {
            if (Main.debug) {
                e.printStackTrace();
            }
            System.out.println(name + " failed: " + Main.message(e));
            return false;
        }
    }

    /** Parsed options (letter → value or "") plus the positional arguments under key "". */
    private static final class Args {
        final Map<Character, String> opts = new HashMap<>();
        final List<String> pos = new ArrayList<>();

        boolean has(char c) {
            return opts.containsKey(c);
        }
    }

    private static Args parse(List<String> argv, String spec, int min, int max) {
        Args a = new Args();
        String cmd = argv.get(0);
        int i = 1;
        for (; i < argv.size(); i++) {
            String t = argv.get(i);
            if (t.equals("--")) {
                i++;
                break;
            }
            if (!t.startsWith("-") || t.length() == 1) {
                break;
            }
            for (int j = 1; j < t.length(); j++) {
                char c = t.charAt(j);
                int k = spec.indexOf(c);
                if (k < 0 || c == ':') {
                    throw new UsageError(cmd + ": invalid option -- '" + c + "'");
                }
                if (k + 1 < spec.length() && spec.charAt(k + 1) == ':') {
                    String v = t.substring(j + 1);
                    if (v.isEmpty()) {
                        if (++i >= argv.size()) {
                            throw new UsageError(cmd + ": option requires an argument -- '" + c + "'");
                        }
                        v = argv.get(i);
                    }
                    a.opts.put(c, v);
                    break;
                }
                a.opts.put(c, "");
            }
        }
        a.pos.addAll(argv.subList(i, argv.size()));
        if (a.pos.size() < min || a.pos.size() > max) {
            throw new UsageError("bad argument count " + a.pos.size() + " to " + cmd + ", expected "
                    + (min == max ? min : "between " + min + " and " + max) + " arguments");
        }
        return a;
    }

    static long number(String s) {
        try {
            return Numbers.parseSize(s);
        } catch (IllegalArgumentException e) {
            throw new ParseError(s);
        }
    }

    private static int pattern(String s) {
        try {
            return Numbers.parsePattern(s);
        } catch (IllegalArgumentException e) {
            throw new UsageError("non-numeric pattern '" + s + "'");
        }
    }

    private boolean read(Args a) throws IOException {
        long offset = number(a.pos.get(0));
        long count = number(a.pos.get(1));
        if (count > MAX_REQUEST) {
            System.out.println("length cannot exceed " + MAX_REQUEST + ", cannot read");
            return false;
        }
        checkRange(offset, count);
        boolean verify = a.has('P');
        int pat = verify ? pattern(a.opts.get('P')) : 0;
        boolean verbose = a.has('v');
        byte[] buf = new byte[(int) Math.min(count, CHUNK)];
        boolean mismatch = false;
        long t0 = System.nanoTime();
        long elapsed = 0;
        for (long done = 0; done < count; ) {
            int n = (int) Math.min(buf.length, count - done);
            long s = System.nanoTime();
            disk.read(offset + done, buf, 0, n);
            elapsed += System.nanoTime() - s;
            if (verify && !mismatch) {
                for (int i = 0; i < n; i++) {
                    if ((buf[i] & 0xff) != pat) {
                        mismatch = true;
                        break;
                    }
                }
            }
            if (verbose && !a.has('q')) {
                dump(buf, n, offset + done);
            }
            done += n;
        }
        if (count == 0) {
            elapsed = System.nanoTime() - t0;
        }
        if (mismatch) {
            // qemu-io reports the request, not the first differing byte.
            System.out.println("Pattern verification failed at offset " + offset + ", " + count + " bytes");
        }
        if (!a.has('q')) {
            report("read", elapsed, offset, count);
        }
        return !mismatch;
    }

    private boolean write(Args a) throws IOException {
        long offset = number(a.pos.get(0));
        long count = number(a.pos.get(1));
        if (a.has('z') && a.has('P')) {
            throw new UsageError("-z and -P cannot be specified at the same time");
        }
        if (a.has('z') && a.has('c')) {
            throw new UsageError("-z and -c cannot be specified at the same time");
        }
        if (count > MAX_REQUEST && !a.has('z')) {
            System.out.println("length cannot exceed " + MAX_REQUEST + ", cannot write");
            return false;
        }
        if (readOnly) {
            System.out.println("write failed: Block node is read-only");
            return false;
        }
        checkRange(offset, count);
        int pat = a.has('P') ? pattern(a.opts.get('P')) : 0xcd;
        long s = System.nanoTime();
        if (a.has('z')) {
            disk.writeZeroes(offset, count);
        } else if (a.has('c')) {
            Qcow2Image q = disk.qcow2();
            if (q == null) {
                throw new IOException(disk.name() + ": compressed writes need a qcow2 image");
            }
            int cs = q.clusterSize();
            if (offset % cs != 0 || count % cs != 0) {
                throw new IOException("Invalid argument"); // qemu-io: -EINVAL for unaligned compressed writes
            }
            byte[] cluster = new byte[cs];
            Arrays.fill(cluster, (byte) pat);
            for (long done = 0; done < count; done += cs) {
                q.writeCompressed(offset + done, cluster);
            }
        } else {
            byte[] buf = new byte[(int) Math.min(count, CHUNK)];
            Arrays.fill(buf, (byte) pat);
            for (long done = 0; done < count; ) {
                int n = (int) Math.min(buf.length, count - done);
                disk.write(offset + done, buf, 0, n);
                done += n;
            }
        }
        if (a.has('f')) {
            disk.flush(); // FUA
        }
        long elapsed = System.nanoTime() - s;
        if (!a.has('q')) {
            report("wrote", elapsed, offset, count);
        }
        return true;
    }

    private boolean discard(Args a) throws IOException {
        long offset = number(a.pos.get(0));
        long count = number(a.pos.get(1));
        if (readOnly) {
            System.out.println("discard failed: Block node is read-only");
            return false;
        }
        checkRange(offset, count);
        long s = System.nanoTime();
        disk.discard(offset, count);
        long elapsed = System.nanoTime() - s;
        if (!a.has('q')) {
            report("discard", elapsed, offset, count);
        }
        return true;
    }

    /** Requests past the end fail with EIO, as the block layer's request check does. */
    private void checkRange(long offset, long count) throws IOException {
        if (offset < 0 || count < 0 || offset > disk.size() || count > disk.size() - offset) {
            throw new IOException("Input/output error");
        }
    }

    /** qemu-io map: this layer's allocation, merged. */
    private boolean map() throws IOException {
        long size = disk.size();
        long off = 0;
        StringBuilder sb = new StringBuilder();
        while (off < size) {
            BlockStatus first = disk.status(off, size - off);
            boolean alloc = first.allocated();
            long n = first.length();
            while (off + n < size) {
                BlockStatus next = disk.status(off + n, size - off - n);
                if (next.allocated() != alloc || next.length() <= 0) {
                    break;
                }
                n += next.length();
            }
            if (n <= 0) {
                throw new IOException(disk.name() + ": block status returned an empty range");
            }
            sb.append(String.format(Locale.ROOT, "%s (0x%x) bytes %s at offset %s (0x%x)\n",
                    Numbers.cvtstr(n), n, alloc ? "    allocated" : "not allocated", Numbers.cvtstr(off), off));
            off += n;
        }
        System.out.print(sb);
        return true;
    }

    private static void report(String op, long nanos, long offset, long count) {
        double secs = nanos / 1e9;
        System.out.println(op + " " + count + "/" + count + " bytes at offset " + offset);
        System.out.println(Numbers.cvtstr(count) + ", 1 ops; " + Numbers.timestr(nanos) + " ("
                + Numbers.cvtstr(secs > 0 ? count / secs : 0) + "/sec and " + Numbers.fixed(secs > 0 ? 1 / secs : 0, 4)
                + " ops/sec)");
    }

    /** qemu-io's dump_buffer. */
    private static void dump(byte[] buf, int len, long offset) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < len; i += 16) {
            sb.append(String.format("%08x:  ", offset + i));
            int end = Math.min(len, i + 16);
            for (int j = i; j < end; j++) {
                sb.append(String.format("%02x ", buf[j] & 0xff));
            }
            sb.append(' ');
            for (int j = i; j < end; j++) {
                char c = (char) (buf[j] & 0xff);
                sb.append(c < 128 && Character.isLetterOrDigit(c) ? c : '.');
            }
            sb.append('\n');
        }
        System.out.print(sb);
    }

    private static final class UsageError extends RuntimeException {
        private static final long serialVersionUID = 1L;

        UsageError(String m) {
            super(m, null, false, false);
        }
    }

    private static final class ParseError extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ParseError(String m) {
            super(m, null, false, false);
        }
    }
}
