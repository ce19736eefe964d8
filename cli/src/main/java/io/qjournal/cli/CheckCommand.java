package io.qjournal.cli;

import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.storage.FileStorage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * qemu-img check. Exit status: 0 clean, 1 check not completed, 2 corruptions, 3 leaks only,
 * 63 the format has no checks (raw).
 */
@Command(name = "check", description = "Check an image for consistency (as qemu-img check).",
        mixinStandardHelpOptions = true, version = "qjournal " + Main.VERSION)
public final class CheckCommand implements Callable<Integer> {
    @Option(names = {"-r", "--repair"}, paramLabel = "leaks|all", description = "repair leaks only, or all errors")
    String repair;

    @Option(names = "--output", paramLabel = "human|json", description = "output format (default human)")
    String output = "human";

    @Option(names = {"-U", "--force-share"}, description = "open without taking image locks")
    boolean forceShare;

    @Option(names = "-f", paramLabel = "FMT", description = "image format (probed by default)")
    String format;

    @Option(names = "-p", description = "accepted for compatibility (the check is fast)")
    boolean progress;

    @Option(names = "-q", description = "quiet: print nothing, report through the exit status")
    boolean quiet;

    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    @Override
    public Integer call() throws IOException {
        RepairMode mode = RepairMode.NONE;
        if (repair != null) {
            if (repair.equals("leaks")) {
                mode = RepairMode.LEAKS;
            } else if (repair.equals("all")) {
                mode = RepairMode.ALL;
            } else {
                throw new CliException("Unknown option value for -r (expecting 'leaks' or 'all'): " + repair);
            }
        }
        boolean json = Output.isJson(output);
        if (!Images.format(file, format).equals("qcow2")) {
            throw new CliException("This image format does not support checks", 63);
        }
        boolean writable = mode != RepairMode.NONE;
        CheckResult r;
        try (FileStorage s = FileStorage.open(file, writable)) {
            if (!forceShare) {
                s.lock(writable);
            }
            // The checker itself sees a journalled image as replay leaves it, journal area included.
            r = ImageChecker.check(s, mode);
        }
        printMessages(r, json || quiet);
        long leaksFixed = r.leaksFixed();
        long corruptionsFixed = r.corruptionsFixed();
        // As qemu-img: a check that could not complete prints no report, only its error lines.
        if (!quiet && io.qjournal.qcow2.check.CheckReport.completed(r)) {
            if (json) {
                System.out.println(Json.pretty(toJson(file.toString(), r, leaksFixed, corruptionsFixed)));
            } else {
                System.out.print(human(r));
            }
        }
        if (r.checkErrors() != 0) {
            return 1;
        }
        return r.corruptions() != 0 ? 2 : r.leaks() != 0 ? 3 : 0;
    }

    static final String REPAIRED = "The following inconsistencies were found and repaired:";

    /**
     * The checker's per-problem lines go to stderr as qemu-img's do; the repair summary goes to
     * stdout in human mode (older checkers also listed it among the messages: skipped there).
     */
    private static void printMessages(CheckResult r, boolean noSummary) {
        List<String> msgs = r.messages() == null ? List.of() : r.messages();
        int summary = msgs.indexOf(REPAIRED);
        System.out.flush();
        for (int i = 0; i < msgs.size(); i++) {
            if (i == summary) {
                i += 3;
                continue;
            }
            System.err.println(msgs.get(i));
        }
        System.err.flush();
        if (!noSummary && (r.leaksFixed() != 0 || r.corruptionsFixed() != 0)) {
            System.out.printf("%s%n%n    %d leaked clusters%n    %d corruptions%n%nDouble checking the fixed image now...%n",
                    REPAIRED, r.leaksFixed(), r.corruptionsFixed());
        }
    }

    /** QEMU's ImageCheck: optional members appear only when non-zero (qemu-img.c collect_image_check). */
    static Map<String, Object> toJson(String filename, CheckResult r, long leaksFixed, long corruptionsFixed) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("filename", filename);
        m.put("format", "qcow2");
        m.put("check-errors", r.checkErrors());
        putNonZero(m, "image-end-offset", r.imageEndOffset());
        putNonZero(m, "corruptions", r.corruptions());
        putNonZero(m, "leaks", r.leaks());
        putNonZero(m, "corruptions-fixed", corruptionsFixed);
        putNonZero(m, "leaks-fixed", leaksFixed);
        putNonZero(m, "total-clusters", r.totalClusters());
        putNonZero(m, "allocated-clusters", r.allocatedClusters());
        putNonZero(m, "fragmented-clusters", r.fragmentedClusters());
        putNonZero(m, "compressed-clusters", r.compressedClusters());
        return m;
    }

    private static void putNonZero(Map<String, Object> m, String k, long v) {
        if (v != 0) {
            m.put(k, v);
        }
    }

    /** qemu-img.c dump_human_image_check. */
    static String human(CheckResult r) {
        StringBuilder sb = new StringBuilder();
        if (r.corruptions() == 0 && r.leaks() == 0 && r.checkErrors() == 0) {
            sb.append("No errors were found on the image.\n");
        } else {
            if (r.corruptions() != 0) {
                sb.append('\n').append(r.corruptions()).append(" errors were found on the image.\n"
                        + "Data may be corrupted, or further writes to the image may corrupt it.\n");
            }
            if (r.leaks() != 0) {
                sb.append('\n').append(r.leaks()).append(" leaked clusters were found on the image.\n"
                        + "This means waste of disk space, but no harm to data.\n");
            }
            if (r.checkErrors() != 0) {
                sb.append('\n').append(r.checkErrors()).append(" internal errors have occurred during the check.\n");
            }
        }
        if (r.totalClusters() != 0 && r.allocatedClusters() != 0) {
            sb.append(r.allocatedClusters()).append('/').append(r.totalClusters()).append(" = ")
                    .append(Numbers.fixed(r.allocatedClusters() * 100.0 / r.totalClusters(), 2)).append("% allocated, ")
                    .append(Numbers.fixed(r.fragmentedClusters() * 100.0 / r.allocatedClusters(), 2)).append("% fragmented, ")
                    .append(Numbers.fixed(r.compressedClusters() * 100.0 / r.allocatedClusters(), 2))
                    .append("% compressed clusters\n");
        }
        if (r.imageEndOffset() != 0) {
            sb.append("Image end offset: ").append(r.imageEndOffset()).append('\n');
        }
        return sb.toString();
    }
}
