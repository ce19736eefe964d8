package io.qjournal.cli;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.storage.FileStorage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "create", description = "Create a new image (as qemu-img create).", mixinStandardHelpOptions = true,
        version = "qjournal " + Main.VERSION)
public final class CreateCommand implements Callable<Integer> {
    static final String SIZE_HELP = "Invalid image size specified. You may use k, M, G, T, P or E suffixes for "
            + "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.";

    @Option(names = "-f", paramLabel = "FMT", description = "qcow2 (default) or raw")
    String format = "qcow2";

    @Option(names = "-o", paramLabel = "OPTIONS", description = "cluster_size, refcount_bits, compat=0.10|1.1, "
            + "backing_file, backing_fmt, lazy_refcounts, extended_l2, preallocation=off|metadata, "
            + "compression_type=zlib|zstd ('-o help' lists them)")
    List<String> options = new ArrayList<>();

    @Option(names = "-b", paramLabel = "BACKING", description = "backing file")
    String backing;

    @Option(names = "-F", paramLabel = "FMT", description = "backing file format")
    String backingFormat;

    @Option(names = "-q", description = "quiet")
    boolean quiet;

    @Option(names = "-u", description = "accepted for compatibility: the backing file is not required to exist "
            + "when SIZE is given")
    boolean unsafe;

    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    @Parameters(index = "1", paramLabel = "SIZE", arity = "0..1")
    String size;

    @Override
    public Integer call() throws IOException {
        Images.checkFormatName(format);
        Map<String, String> o = new LinkedHashMap<>();
        for (String s : options) {
            OptionString.parse(s, o);
        }
        if (o.containsKey("help") || o.containsKey("?")) {
            System.out.println(OPTIONS_HELP);
            return 0;
        }
        if (backing != null) {
            o.put("backing_file", backing);
        }
        if (backingFormat != null) {
            o.put("backing_fmt", backingFormat);
        }
        Long bytes = null;
        if (size != null) {
            try {
                bytes = Numbers.parseSize(size);
            } catch (IllegalArgumentException e) {
                throw new CliException(SIZE_HELP);
            }
        } else if (o.containsKey("size")) {
            bytes = parseSizeOption(o.get("size"));
        }
        o.remove("size");
        if (format.equals("raw")) {
            if (!o.isEmpty()) {
                throw new CliException(file + ": Invalid parameter '" + o.keySet().iterator().next() + "'");
            }
            if (bytes == null) {
                throw new CliException(file + ": Image creation needs a size parameter");
            }
            if (!quiet) {
                System.out.println("Formatting '" + file + "', fmt=raw size=" + bytes);
            }
            try (FileStorage s = FileStorage.create(file)) {
                s.truncate(bytes);
            }
            return 0;
        }
        String bf = o.get("backing_file");
        if (bf != null && !o.containsKey("backing_fmt")) {
            throw new CliException(file + ": Backing file specified without backing format");
        }
        if (bytes == null) {
            if (bf == null) {
                throw new CliException(file + ": Image creation needs a size parameter");
            }
            bytes = backingSize(file, bf, o.get("backing_fmt"));
        }
        CreateOptions co = build(file.toString(), o, bytes);
        if (!quiet) {
            System.out.println(formattingLine(file.toString(), o, bytes));
        }
        System.out.flush();
        Qcow2Image.create(file, co);
        return 0;
    }

    static long parseSizeOption(String v) {
        try {
            return Numbers.parseSize(v);
        } catch (IllegalArgumentException e) {
            throw new CliException(SIZE_HELP);
        }
    }

    /** The virtual size of the backing file, opened relative to the new image's directory. */
    static long backingSize(Path image, String backingFile, String fmt) throws IOException {
        Path p = Path.of(Images.fullBackingName(image.toString(), backingFile));
        if (!Files.exists(p)) {
            throw new CliException(image + ": Could not open backing file '" + p + "': No such file or directory");
        }
        String f = Images.format(p, fmt);
        if (f.equals("raw")) {
            return Files.size(p);
        }
        try (Qcow2Image img = Images.openQcow2(p, false, false, false)) {
            return img.size();
        }
    }

    static final String OPTIONS_HELP = String.join("\n",
            "Supported options:",
            "  backing_file=<str>     - File name of a base image",
            "  backing_fmt=<str>      - Image format of the base image",
            "  cluster_size=<size>    - qcow2 cluster size (512 to 2M, power of two)",
            "  compat=<str>           - Compatibility level (0.10 or 1.1)",
            "  compression_type=<str> - Compression method used for image cluster compression (zlib, zstd)",
            "  extended_l2=<bool (on/off)> - Extended L2 tables",
            "  lazy_refcounts=<bool (on/off)> - Postpone refcount updates",
            "  preallocation=<str>    - Preallocation mode (allowed values: off, metadata)",
            "  refcount_bits=<num>    - Width of a reference count entry in bits",
            "  size=<size>            - Virtual disk size");

    /** Validates -o options and turns them into engine options. */
    static CreateOptions build(String file, Map<String, String> o, long size) {
        CreateOptions co = new CreateOptions().size(size);
        boolean v2 = false;
        for (Map.Entry<String, String> e : o.entrySet()) {
            String k = e.getKey();
            String v = e.getValue();
            try {
                switch (k) {
                    case "cluster_size": {
                        long cs = Numbers.parseSize(v);
                        if (cs < 512 || cs > (2 << 20) || Long.bitCount(cs) != 1) {
                            throw new CliException(file + ": Cluster size must be a power of two between 512 and 2048k");
                        }
                        co.clusterSize((int) cs);
                        break;
                    }
                    case "refcount_bits": {
                        int rb = Integer.parseInt(v);
                        if (rb < 1 || rb > 64 || Integer.bitCount(rb) != 1) {
                            throw new CliException(file + ": Refcount width must be a power of two and may not exceed 64 bits");
                        }
                        co.refcountBits(rb);
                        break;
                    }
                    case "compat":
                        co.compat(v);
                        v2 = v.equals("0.10");
                        break;
                    case "backing_file":
                        co.backingFile(v);
                        break;
                    case "backing_fmt":
                        Images.checkFormatName(v);
                        co.backingFormat(v);
                        break;
                    case "lazy_refcounts":
                        co.lazyRefcounts(OptionString.parseBool(k, v));
                        break;
                    case "extended_l2":
                        co.extendedL2(OptionString.parseBool(k, v));
                        break;
                    case "preallocation":
                        if (v.equals("off")) {
                            co.preallocation(CreateOptions.Preallocation.OFF);
                        } else if (v.equals("metadata")) {
                            co.preallocation(CreateOptions.Preallocation.METADATA);
                        } else {
                            throw new CliException(file + ": Unsupported preallocation mode '" + v + "' (use off or metadata)");
                        }
                        break;
                    case "compression_type":
                        if (v.equals("zlib")) {
                            co.compressionType(0);
                        } else if (v.equals("zstd")) {
                            co.compressionType(1);
                        } else {
                            throw new CliException(file + ": Parameter 'compression_type' does not accept value '" + v + "'");
                        }
                        break;
                    default:
                        throw new CliException(file + ": Invalid parameter '" + k + "'");
                }
            } catch (NumberFormatException ex) {
                throw new CliException(file + ": Parameter '" + k + "' expects a number");
            } catch (IllegalArgumentException ex) {
                throw new CliException(file + ": " + ex.getMessage());
            }
        }
        if (v2) {
            String why = on(o, "lazy_refcounts") ? "Lazy refcounts" : on(o, "extended_l2") ? "Extended L2 entries"
                    : "zstd".equals(o.get("compression_type")) ? "Compression type zstd"
                    : o.containsKey("refcount_bits") && !o.get("refcount_bits").equals("16") ? "Different refcount widths" : null;
            if (why != null) {
                throw new CliException(file + ": " + why + " are only supported with compatibility level 1.1 and above "
                        + "(use version=v3 or greater)");
            }
        }
        return co;
    }

    private static boolean on(Map<String, String> o, String k) {
        return o.containsKey(k) && OptionString.parseBool(k, o.get(k));
    }

    /** qemu-img's "Formatting 'FILE', fmt=qcow2 ..." line, with its key order. */
    static String formattingLine(String file, Map<String, String> o, long size) {
        StringBuilder sb = new StringBuilder("Formatting '").append(file).append("', fmt=qcow2");
        long cs = o.containsKey("cluster_size") ? Numbers.parseSize(o.get("cluster_size")) : 65536;
        sb.append(" cluster_size=").append(cs);
        sb.append(" extended_l2=").append(on(o, "extended_l2") ? "on" : "off");
        if (o.containsKey("preallocation")) {
            sb.append(" preallocation=").append(o.get("preallocation"));
        }
        sb.append(" compression_type=").append(o.getOrDefault("compression_type", "zlib"));
        sb.append(" size=").append(size);
        if (o.containsKey("backing_file")) {
            sb.append(" backing_file=").append(o.get("backing_file"));
        }
        if (o.containsKey("backing_fmt")) {
            sb.append(" backing_fmt=").append(o.get("backing_fmt"));
        }
        if (o.containsKey("compat")) {
            sb.append(" compat=").append(o.get("compat"));
        }
        sb.append(" lazy_refcounts=").append(on(o, "lazy_refcounts") ? "on" : "off");
        sb.append(" refcount_bits=").append(o.getOrDefault("refcount_bits", "16"));
        return sb.toString();
    }
}
