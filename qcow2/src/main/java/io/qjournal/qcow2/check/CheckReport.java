package io.qjournal.qcow2.check;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Formats a {@link CheckResult} exactly as {@code qemu-img check} prints it on stdout, in its
 * human and JSON forms (the stderr lines are {@link CheckResult#messages()}). A check that
 * could not complete prints no report, as qemu-img.
 */
public final class CheckReport {
    private CheckReport() {
    }

    /** Whether the check ran to the end (qemu-img prints a report only then). */
    public static boolean completed(CheckResult r) {
        // A completed check always reports at least one cluster (the header) as in use.
        return r.imageEndOffset() > 0;
    }

    /** The human report, including qemu-img's note about repairs; empty for a failed check. */
    public static String human(CheckResult r) {
        if (!completed(r)) {
            return "";
        }
        StringBuilder b = new StringBuilder();
        if (r.leaksFixed() > 0 || r.corruptionsFixed() > 0) {
            b.append("The following inconsistencies were found and repaired:\n\n")
                    .append("    ").append(r.leaksFixed()).append(" leaked clusters\n")
                    .append("    ").append(r.corruptionsFixed()).append(" corruptions\n\n")
                    .append("Double checking the fixed image now...\n");
        }
        if (r.corruptions() == 0 && r.leaks() == 0 && r.checkErrors() == 0) {
            b.append("No errors were found on the image.\n");
        } else {
            if (r.corruptions() > 0) {
                b.append('\n').append(r.corruptions()).append(" errors were found on the image.\n")
                        .append("Data may be corrupted, or further writes to the image may corrupt it.\n");
            }
            if (r.leaks() > 0) {
                b.append('\n').append(r.leaks()).append(" leaked clusters were found on the image.\n")
                        .append("This means waste of disk space, but no harm to data.\n");
            }
            if (r.checkErrors() > 0) {
                b.append('\n').append(r.checkErrors()).append(" internal errors have occurred during the check.\n");
            }
        }
        if (r.totalClusters() != 0 && r.allocatedClusters() != 0) {
            b.append(String.format(Locale.ROOT, "%d/%d = %.2f%% allocated, %.2f%% fragmented, %.2f%% compressed clusters\n",
                    r.allocatedClusters(), r.totalClusters(), r.allocatedClusters() * 100.0 / r.totalClusters(),
                    r.fragmentedClusters() * 100.0 / r.allocatedClusters(),
                    r.compressedClusters() * 100.0 / r.allocatedClusters()));
        }
        if (r.imageEndOffset() != 0) {
            b.append("Image end offset: ").append(r.imageEndOffset()).append('\n');
        }
        return b.toString();
    }

    /**
     * The JSON report of {@code --output=json}: zero counters are left out, and the keys come
     * in the order QEMU's hash table yields them; empty for a failed check.
     */
    public static String json(CheckResult r, String format) {
        if (!completed(r)) {
            return "";
        }
        List<String> f = new ArrayList<>();
        num(f, "image-end-offset", r.imageEndOffset());
        num(f, "compressed-clusters", r.compressedClusters());
        num(f, "total-clusters", r.totalClusters());
        num(f, "corruptions", r.corruptions());
        num(f, "corruptions-fixed", r.corruptionsFixed());
        f.add("\"check-errors\": " + r.checkErrors());
        num(f, "leaks", r.leaks());
        num(f, "leaks-fixed", r.leaksFixed());
        num(f, "allocated-clusters", r.allocatedClusters());
        f.add("\"filename\": " + quote(r.filename()));
        f.add("\"format\": " + quote(format));
        num(f, "fragmented-clusters", r.fragmentedClusters());
        return "{\n    " + String.join(",\n    ", f) + "\n}\n";
    }

    private static void num(List<String> f, String key, long v) {
        if (v != 0) {
            f.add("\"" + key + "\": " + v);
        }
    }

    /** JSON string as QEMU writes it: control and non-ASCII characters as \\uXXXX (upper-case hex). */
    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c >= 0x7f) {
                        b.append(String.format("\\u%04X", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
