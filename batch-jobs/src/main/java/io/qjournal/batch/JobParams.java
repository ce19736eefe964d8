package io.qjournal.batch;

import io.qjournal.qcow2.check.RepairMode;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * The parameters every job takes, checked before anything runs so that a typo gives one clear
 * line instead of a failed execution in the repository.
 */
public record JobParams(String job, List<Path> dirs, String pattern, int threads, RepairMode repair, boolean replay,
        boolean dryRun) {
    public static final List<String> JOBS = List.of("integrity-sweep", "journal-replay", "dedup-compaction");
    static final Set<String> KEYS = Set.of("dirs", "pattern", "threads", "repair", "replay", "dry-run");

    public static JobParams parse(String job, Map<String, String> p) {
        if (!JOBS.contains(job)) {
            throw new IllegalArgumentException("unknown job '" + job + "' (jobs: " + String.join(", ", JOBS) + ")");
        }
        for (String k : p.keySet()) {
            if (!KEYS.contains(k)) {
                throw new IllegalArgumentException("unknown parameter '" + k + "' (parameters: dirs, pattern, threads,"
                        + " repair, replay, dry-run)");
            }
        }
        String d = p.get("dirs");
        if (d == null || d.isBlank()) {
            throw new IllegalArgumentException("parameter dirs is required (-p dirs=/path/to/images[,/more])");
        }
        List<Path> dirs = new ArrayList<>();
        for (String s : d.split(",")) {
            if (s.isBlank()) {
                continue;
            }
            Path dir = Path.of(s.trim()).toAbsolutePath().normalize();
            if (!Files.isDirectory(dir)) {
                throw new IllegalArgumentException(dir + ": " + (Files.exists(dir) ? "not a directory" : "No such directory"));
            }
            if (!Files.isReadable(dir)) {
                throw new IllegalArgumentException(dir + ": Permission denied");
            }
            dirs.add(dir);
        }
        String pattern = p.getOrDefault("pattern", "*.qcow2");
        if (pattern.isBlank() || pattern.contains("/")) {
            throw new IllegalArgumentException("pattern '" + pattern + "' must be a file name glob such as *.qcow2");
        }
        try {
            FileSystems.getDefault().getPathMatcher("glob:" + pattern);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("pattern '" + pattern + "' is not a valid glob: " + e.getMessage());
        }
        int threads = Runtime.getRuntime().availableProcessors();
        if (p.containsKey("threads")) {
            try {
                threads = Integer.parseInt(p.get("threads").trim());
            } catch (NumberFormatException e) {
                threads = -1;
            }
            if (threads < 1 || threads > 256) {
                throw new IllegalArgumentException("threads=" + p.get("threads") + ": expecting a number from 1 to 256");
            }
        }
        RepairMode repair = RepairMode.NONE;
        String r = p.get("repair");
        if (r != null && !r.equals("none")) {
            if (!job.equals("integrity-sweep")) {
                throw new IllegalArgumentException("repair applies to integrity-sweep only");
            }
            repair = switch (r) {
                case "leaks" -> RepairMode.LEAKS;
                case "all" -> RepairMode.ALL;
                default -> throw new IllegalArgumentException("repair=" + r + ": expecting leaks or all");
            };
        }
        boolean replay = bool(p, "replay", job.equals("journal-replay"));
        boolean dryRun = bool(p, "dry-run", false);
        return new JobParams(job, List.copyOf(dirs), pattern, threads, repair, replay, dryRun);
    }

    private static boolean bool(Map<String, String> p, String k, boolean dflt) {
        String v = p.get(k);
        if (v == null) {
            return dflt;
        }
        return switch (v.trim()) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException(k + "=" + v + ": expecting true or false");
        };
    }

    public static JobParams fromProperties(String job, Properties props) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String k : props.stringPropertyNames()) {
            // Unset job parameters reach the JSL properties as empty strings.
            if (KEYS.contains(k) && !props.getProperty(k).isBlank()) {
                m.put(k, props.getProperty(k));
            }
        }
        return parse(job, m);
    }

    /** The images, sorted, each once (a directory named twice, or a symlink, does not double them). */
    public List<Path> images() throws IOException {
        PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + pattern);
        TreeSet<Path> out = new TreeSet<>();
        for (Path dir : dirs) {
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
                for (Path f : ds) {
                    if (m.matches(f.getFileName()) && Files.isRegularFile(f)) {
                        out.add(f.toRealPath());
                    }
                }
            }
        }
        return new ArrayList<>(out);
    }
}
