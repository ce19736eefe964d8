package io.qjournal.qcow2.testsupport;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs the QEMU tools (qemu-img, qemu-io) for comparison tests, only through ProcessBuilder.
 *
 * <p>Skip-or-fail rule: when a tool is missing the calling test is skipped (JUnit assumption),
 * unless the environment sets {@code QJOURNAL_REQUIRE_QEMU=1}, in which case it fails, so CI
 * machines that are meant to have QEMU cannot silently skip the comparison.
 */
public final class QemuTools {
    /** Exit status and captured output of one tool run. */
    public record Result(int exitCode, String stdout, String stderr) {
        public Result requireSuccess() {
            if (exitCode != 0) {
                throw new AssertionError("command failed with exit code " + exitCode + "\nstdout: " + stdout
                        + "\nstderr: " + stderr);
            }
            return this;
        }
    }

    private static final long TIMEOUT_SECONDS = 300;

    private QemuTools() {
    }

    /** True when {@code QJOURNAL_REQUIRE_QEMU=1}: missing tools are failures, not skips. */
    public static boolean required() {
        return "1".equals(System.getenv("QJOURNAL_REQUIRE_QEMU"));
    }

    /** The tool's path on PATH, or null. */
    public static Path find(String tool) {
        String path = System.getenv("PATH");
        if (path == null) {
            return null;
        }
        for (String dir : path.split(File.pathSeparator)) {
            if (dir.isEmpty()) {
                continue;
            }
            Path p = Path.of(dir, tool);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    public static boolean available(String tool) {
        return find(tool) != null;
    }

    /** Skips the test when qemu-img (and any further named tools) are missing, or fails under the require rule. */
    public static void assumeAvailable(String... extraTools) {
        List<String> tools = new ArrayList<>();
        tools.add("qemu-img");
        tools.addAll(Arrays.asList(extraTools));
        for (String t : tools) {
            if (!available(t)) {
                String msg = t + " is not installed; QEMU comparison test "
                        + (required() ? "cannot run (QJOURNAL_REQUIRE_QEMU=1)" : "skipped");
                if (required()) {
                    Assertions.fail(msg);
                }
                Assumptions.assumeTrue(false, msg);
            }
        }
    }

    /** Runs a command (first element is the tool name or path) and captures its output. */
    public static Result run(String... command) {
        return run(null, command);
    }

    /** Runs a command with the given working directory (null: inherit). */
    public static Result run(Path workDir, String... command) {
        ProcessBuilder pb = new ProcessBuilder(command);
        if (workDir != null) {
            pb.directory(workDir.toFile());
        }
        // A fixed locale keeps messages comparable across machines.
        pb.environment().put("LC_ALL", "C");
        try {
            Process p = pb.start();
            p.getOutputStream().close();
            CompletableFuture<String> out = drain(p.getInputStream());
            CompletableFuture<String> err = drain(p.getErrorStream());
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("timed out after " + TIMEOUT_SECONDS + " s: " + String.join(" ", command));
            }
            return new Result(p.exitValue(), out.join(), err.join());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted running " + String.join(" ", command), e);
        }
    }

    /** Runs {@code qemu-img args...}. */
    public static Result qemuImg(String... args) {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "qemu-img";
        System.arraycopy(args, 0, cmd, 1, args.length);
        return run(cmd);
    }

    /** Runs {@code qemu-io args...}. */
    public static Result qemuIo(String... args) {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "qemu-io";
        System.arraycopy(args, 0, cmd, 1, args.length);
        return run(cmd);
    }

    /**
     * Runs {@code qemu-img <args> --output=json} and parses the flat JSON object it prints
     * (check and info output; nested values are kept as their raw JSON text). The result of a
     * run that printed nothing (e.g. a failed check) is an empty map.
     */
    public static JsonResult qemuImgJson(String... args) {
        String[] full = Arrays.copyOf(args, args.length + 1);
        full[args.length] = "--output=json";
        Result r = qemuImg(full);
        String text = r.stdout().trim();
        Map<String, String> obj = text.startsWith("{") ? MiniJson.parseObject(text) : Map.of();
        return new JsonResult(r, obj);
    }

    /** A JSON run: the raw result plus the top-level fields. */
    public record JsonResult(Result result, Map<String, String> fields) {
        /** A numeric field, 0 when absent (qemu-img omits zero counters). */
        public long number(String name) {
            String v = fields.get(name);
            return v == null ? 0 : Long.parseLong(v);
        }

        public String string(String name) {
            String v = fields.get(name);
            if (v != null && v.length() >= 2 && v.startsWith("\"")) {
                return new MiniJson(v).string();
            }
            return v;
        }

        public int exitCode() {
            return result.exitCode();
        }
    }

    private static CompletableFuture<String> drain(InputStream in) {
        return CompletableFuture.supplyAsync(() -> {
            try (in) {
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** Just enough JSON to read qemu-img's top-level objects. */
    static final class MiniJson {
        private final String s;
        private int pos;

        private MiniJson(String s) {
            this.s = s;
        }

        static Map<String, String> parseObject(String text) {
            MiniJson p = new MiniJson(text);
            p.ws();
            return p.object();
        }

        private Map<String, String> object() {
            Map<String, String> m = new LinkedHashMap<>();
            expect('{');
            ws();
            if (peek() == '}') {
                pos++;
                return m;
            }
            while (true) {
                ws();
                String key = string();
                ws();
                expect(':');
                ws();
                int start = pos;
                skipValue();
                m.put(key, s.substring(start, pos).trim());
                ws();
                char c = s.charAt(pos++);
                if (c == '}') {
                    return m;
                }
                if (c != ',') {
                    throw new IllegalArgumentException("bad JSON at " + (pos - 1) + ": " + s);
                }
            }
        }

        private void skipValue() {
            char c = peek();
            if (c == '{' || c == '[') {
                int depth = 0;
                do {
                    char d = s.charAt(pos);
                    if (d == '"') {
                        string();
                        continue;
                    }
                    if (d == '{' || d == '[') {
                        depth++;
                    } else if (d == '}' || d == ']') {
                        depth--;
                    }
                    pos++;
                } while (depth > 0);
            } else if (c == '"') {
                string();
            } else {
                while (pos < s.length() && ",}] \n\r\t".indexOf(s.charAt(pos)) < 0) {
                    pos++;
                }
            }
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                char c = s.charAt(pos++);
                if (c == '"') {
                    return b.toString();
                }
                if (c == '\\') {
                    char e = s.charAt(pos++);
                    if (e == 'u') {
                        b.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                        pos += 4;
                    } else {
                        b.append(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e);
                    }
                } else {
                    b.append(c);
                }
            }
        }

        private char peek() {
            return s.charAt(pos);
        }

        private void expect(char c) {
            if (s.charAt(pos) != c) {
                throw new IllegalArgumentException("expected '" + c + "' at " + pos + " in " + s);
            }
            pos++;
        }

        private void ws() {
            while (pos < s.length() && Character.isWhitespace(s.charAt(pos))) {
                pos++;
            }
        }
    }
}
