package io.qjournal.cli;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.storage.FileStorage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * qemu-img convert for qcow2 and raw. Only ranges that read as non-zero are written: raw output
 * keeps holes for zero ranges, qcow2 output is compacted (and compressed with -c).
 */
@Command(name = "convert", description = "Convert an image to raw or qcow2 (as qemu-img convert).",
        mixinStandardHelpOptions = true, version = "qjournal " + Main.VERSION)
public final class ConvertCommand implements Callable<Integer> {
    private static final int WINDOW = 2 << 20;

    @Option(names = "-c", description = "write compressed clusters (qcow2 output)")
    boolean compress;

    @Option(names = "-p", description = "show progress")
    boolean progress;

    @Option(names = "-q", description = "quiet")
    boolean quiet;

    @Option(names = "-f", paramLabel = "FMT", description = "source format (probed by default)")
    String sourceFormat;

    @Option(names = "-O", paramLabel = "FMT", description = "output format: raw (default) or qcow2")
    String outputFormat = "raw";

    @Option(names = "-o", paramLabel = "OPTIONS", description = "output options, as for create")
    List<String> options = new ArrayList<>();

    @Option(names = {"-U", "--force-share"}, description = "open the source without taking image locks")
    boolean forceShare;

    @Option(names = "-t", paramLabel = "CACHE", description = "accepted for compatibility")
    String cache;

    @Option(names = "-T", paramLabel = "CACHE", description = "accepted for compatibility")
    String sourceCache;

    @Option(names = "-S", paramLabel = "SIZE", description = "accepted for compatibility (zero ranges always stay sparse)")
    String sparseSize;

    @Option(names = "-W", description = "accepted for compatibility")
    boolean outOfOrder;

    @Option(names = "-m", paramLabel = "N", description = "accepted for compatibility")
    int coroutines;

    @Parameters(index = "0", paramLabel = "SRC")
    Path source;

    @Parameters(index = "1", paramLabel = "DST")
    Path target;

    @Override
    public Integer call() throws IOException {
        Images.checkFormatName(outputFormat);
        if (compress && !outputFormat.equals("qcow2")) {
            throw new CliException("Compression not supported for this file format");
        }
        Map<String, String> o = new LinkedHashMap<>();
        for (String s : options) {
            OptionString.parse(s, o);
        }
        if (outputFormat.equals("raw") && !o.isEmpty()) {
            throw new CliException(target + ": Invalid parameter '" + o.keySet().iterator().next() + "'");
        }
        if (o.containsKey("backing_file")) {
            throw new CliException(target + ": backing_file is not supported by convert");
        }
        try (Disk src = Images.open(source, sourceFormat, false, !forceShare)) {
            ChainMapper mapper = new ChainMapper(src.device());
            long size = src.size();
            if (outputFormat.equals("raw")) {
                try (FileStorage out = FileStorage.create(target)) {
                    out.lock(true);
                    out.truncate(size);
                    copy(src, mapper, size, 65536, (off, buf, bo, len) -> out.write(off, buf, bo, len), null);
                    out.flush();
                }
            } else {
                o.remove("size");
                CreateOptions co = CreateCommand.build(target.toString(), o, size);
                Qcow2Image.create(target, co);
                try (Qcow2Image out = Qcow2Image.open(target, OpenOptions.readWrite())) {
                    copy(src, mapper, size, out.clusterSize(), (off, buf, bo, len) -> out.write(off, buf, bo, len),
                            compress ? out : null);
                    out.flush();
                }
            }
        } finally {
            closeHostFiles();
        }
        if (progress && !quiet) {
            System.out.print("    (100.00/100%)\n");
        }
        return 0;
    }

    @FunctionalInterface
    interface Writer {
        void write(long offset, byte[] buf, int bufOff, int len) throws IOException;
    }

    /** Copies every range that may read non-zero, in granules of {@code g} bytes. */
    private void copy(Disk src, ChainMapper mapper, long size, int g, Writer w, Qcow2Image compressTo) throws IOException {
        byte[] buf = new byte[Math.max(WINDOW, g)];
        int window = buf.length / g * g;
        long off = 0;
        int lastPct = -1;
        while (off < size) {
            ChainMapper.Entry e = mapper.status(off, size - off);
            long end = off + e.length();
            if (!e.zero()) {
                long a = off / g * g;
                long b = Math.min(size, (end + g - 1) / g * g);
                // A granule-aligned run of plain data is read straight from its layer's file at
                // its host offset: big sequential reads instead of one engine read per cluster.
                // Only the top layer: its path is known for sure, backing names are the engine's.
                FileStorage direct = e.depth() == 0 && e.data() && e.offset() >= 0 && a == off && b == end
                        ? hostFile(source.toString()) : null;
                for (long p = a; p < b; p += window) {
                    int len = (int) Math.min(window, b - p);
                    if (direct != null) {
                        direct.read(e.offset() + (p - off), buf, 0, len);
                    } else {
                        src.read(p, buf, 0, len);
                    }
                    writeNonZero(p, buf, len, g, size, w, compressTo);
                }
                end = b;
            }
            off = end;
            if (progress && !quiet) {
                int pct = (int) (off * 10000 / size);
                if (pct != lastPct) {
                    lastPct = pct;
                    System.out.print("    (" + Numbers.fixed(pct / 100.0, 2) + "/100%)\r");
                    System.out.flush();
                }
            }
        }
    }

    private final java.util.Map<String, FileStorage> hostFiles = new java.util.HashMap<>();

    /** The layer's file opened read-only for direct reads, or null when it cannot be opened. */
    private FileStorage hostFile(String name) {
        if (!hostFiles.containsKey(name)) {
            FileStorage fs = null;
            try {
                fs = FileStorage.open(Path.of(name), false);
            } catch (IOException | RuntimeException ex) {
                // fall back to reads through the engine
            }
            hostFiles.put(name, fs);
        }
        return hostFiles.get(name);
    }

    private void closeHostFiles() {
        for (FileStorage fs : hostFiles.values()) {
            if (fs != null) {
                try {
                    fs.close();
                } catch (IOException ex) {
                    // read-only: nothing to lose
                }
            }
        }
        hostFiles.clear();
    }

    private static void writeNonZero(long base, byte[] buf, int len, int g, long size, Writer w, Qcow2Image compressTo)
            throws IOException {
        int runStart = -1;
        for (int i = 0; i <= len; i += g) {
            boolean data = i < len && !isZero(buf, i, Math.min(g, len - i));
            if (data && compressTo != null) {
                byte[] cluster = new byte[g];
                System.arraycopy(buf, i, cluster, 0, Math.min(g, len - i));
                compressTo.writeCompressed(base + i, cluster);
                continue;
            }
            if (data && runStart < 0) {
                runStart = i;
            } else if (!data && runStart >= 0) {
                int n = (int) Math.min(i, size - base) - runStart;
                w.write(base + runStart, buf, runStart, n);
                runStart = -1;
            }
        }
    }

    private static final byte[] ZEROS = new byte[64 << 10];

    /** Arrays.mismatch is a vectorised intrinsic: zero detection at memory speed. */
    static boolean isZero(byte[] b, int off, int len) {
        for (int done = 0; done < len; ) {
            int n = Math.min(ZEROS.length, len - done);
            if (java.util.Arrays.mismatch(b, off + done, off + done + n, ZEROS, 0, n) >= 0) {
                return false;
            }
            done += n;
        }
        return true;
    }
}
