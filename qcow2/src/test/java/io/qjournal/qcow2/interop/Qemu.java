package io.qjournal.qcow2.interop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs qemu-img and qemu-io for the interop tests. Private to the test packages of this branch
 * until the shared QemuTools helper lands; tests skip when the tools are missing unless
 * QJOURNAL_REQUIRE_QEMU=1, where a missing tool is a failure (CI must not silently skip).
 */
public final class Qemu {
    private static Boolean available;

    private Qemu() {
    }

    /** Output of one finished process. */
    public record Result(int exit, String out, String err) {
        public String all() {
            return out + err;
        }
    }

    public static synchronized void assumeAvailable() {
        if (available == null) {
            available = works("qemu-img", "--version") && works("qemu-io", "--version");
        }
        if (!available) {
            String msg = "qemu-img/qemu-io not found on PATH";
            if ("1".equals(System.getenv("QJOURNAL_REQUIRE_QEMU"))) {
                fail(msg + " but QJOURNAL_REQUIRE_QEMU=1");
            }
            Assumptions.abort(msg + ": skipping interop test");
        }
    }

    private static boolean works(String... cmd) {
        try {
            return run(List.of(cmd), 30).exit() == 0;
        } catch (IOException e) {
            return false;
        }
    }

    public static Result run(List<String> cmd, int timeoutSeconds) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        Path out = Files.createTempFile("qemu-out", ".txt");
        Path err = Files.createTempFile("qemu-err", ".txt");
        try {
            pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.PIPE);
            Process p;
            try {
                p = pb.start();
            } catch (IOException e) {
                // A fork can fail transiently on a loaded machine (seen: "Failed to exec spawn
                // helper"); one retry keeps that from failing an unrelated compatibility check.
                sleepQuietly(200);
                p = pb.start();
            }
            p.getOutputStream().close();
            try {
                if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IOException("timed out after " + timeoutSeconds + " s: " + shortCmd(cmd));
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IOException("interrupted: " + shortCmd(cmd));
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String shortCmd(List<String> cmd) {
        String s = String.join(" ", cmd);
        return s.length() > 400 ? s.substring(0, 400) + "... (" + cmd.size() + " args)" : s;
    }

    /** Runs qemu-img and requires exit status 0. */
    public static String img(String... args) throws IOException {
        Result r = imgResult(args);
        if (r.exit() != 0) {
            fail("qemu-img " + String.join(" ", args) + " exited " + r.exit() + ": " + r.all());
        }
        return r.out();
    }

    public static Result imgResult(String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add("qemu-img");
        cmd.addAll(Arrays.asList(args));
        return run(cmd, 300);
    }

    /** Runs qemu-io with the commands as -c arguments (one process) and requires success. */
    public static String io(Path image, String format, List<String> commands) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", format));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(image.toString());
        Result r = run(cmd, 300);
        // A dirty lazy-refcounts image is repaired on open; its report is not a command failure.
        String all = r.all().lines().filter(l -> !l.startsWith("ERROR cluster") && !l.startsWith("Leaked cluster")
                && !l.startsWith("Repairing") && !l.contains("inconsistencies were found and repaired")
                && !l.matches("\\s+\\d+ (leaked clusters|corruptions)") && !l.startsWith("Double checking"))
                .collect(java.util.stream.Collectors.joining("\n"));
        if (r.exit() != 0 || all.contains("failed") || all.contains("Pattern verification")
                || all.toLowerCase().contains("error")) {
            fail("qemu-io on " + image + " exited " + r.exit() + ": " + shortCmd(cmd) + "\n" + all);
        }
        return r.out();
    }

    public static String io(Path image, String... commands) throws IOException {
        return io(image, "qcow2", List.of(commands));
    }

    /** qemu-img convert -O raw (sparse output). */
    public static void toRaw(Path image, Path raw) throws IOException {
        img("convert", "-O", "raw", image.toString(), raw.toString());
    }

    public static Map<String, Object> info(Path image) throws IOException {
        return Json.object(img("info", "-U", "--output=json", image.toString()));
    }

    public static List<Map<String, Object>> map(Path image) throws IOException {
        return Json.list(img("map", "-U", "--output=json", image.toString()));
    }

    /** qemu-img check --output=json; asserts no corruptions and no leaks, returns the report. */
    public static Map<String, Object> checkClean(Path image) throws IOException {
        Result r = imgResult("check", "--output=json", image.toString());
        Map<String, Object> m;
        try {
            m = Json.object(r.out());
        } catch (RuntimeException e) {
            fail("qemu-img check " + image + " exited " + r.exit() + " with unparsable output: " + r.all());
            return null;
        }
        long corruptions = num(m.get("corruptions")) + num(m.get("check-errors"));
        long leaks = num(m.get("leaks"));
        if (r.exit() != 0 || corruptions != 0 || leaks != 0) {
            Result human = imgResult("check", image.toString());
            fail("qemu-img check " + image + ": exit " + r.exit() + ", corruptions/errors " + corruptions
                    + ", leaks " + leaks + "\n" + human.all());
        }
        assertEquals(0, r.exit());
        return m;
    }

    static long num(Object o) {
        return o == null ? 0 : ((Number) o).longValue();
    }

    @SuppressWarnings("unchecked")
    public static Map<String, Object> formatSpecific(Map<String, Object> info) {
        Map<String, Object> fs = (Map<String, Object>) info.get("format-specific");
        return (Map<String, Object>) fs.get("data");
    }
}
