package io.qjournal.cli.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** bin/qjournal as a child process, and images with known defects made with QEMU's tools. */
final class BatchTools {
    private BatchTools() {
    }

    static Path qjournal() {
        String h = System.getenv("QJOURNAL_HOME");
        Path home = h != null ? Path.of(h) : Path.of(System.getProperty("user.dir")).getParent();
        Path p = home.resolve("bin/qjournal");
        if (!Files.isExecutable(p)) {
            throw new AssertionError("bin/qjournal not found under " + home + " (set QJOURNAL_HOME)");
        }
        return p;
    }

    record Run(int exitCode, String stdout, String stderr) {
        long execution() {
            Matcher m = Pattern.compile("^execution (\\d+)").matcher(stdout);
            if (!m.find()) {
                throw new AssertionError("no 'execution N' first line\nstdout: " + stdout + "\nstderr: " + stderr);
            }
            return Long.parseLong(m.group(1));
        }
    }

    /** Runs `qjournal ARGS` with the given extra environment (state dir, host name). */
    static Run qj(Map<String, String> env, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(qjournal().toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(env);
        pb.environment().put("LC_ALL", "C");
        try {
            Process p = pb.start();
            p.getOutputStream().close();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
            if (!p.waitFor(300, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("timed out: " + cmd);
            }
            return new Run(p.exitValue(), out.join(), err.join());
        } catch (IOException e) {
            throw new AssertionError("cannot run " + cmd, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static String read(java.io.InputStream in) {
        try {
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    static Run ok(Map<String, String> env, String... args) {
        Run r = qj(env, args);
        if (r.exitCode() != 0) {
            throw new AssertionError("qjournal " + String.join(" ", args) + " failed (" + r.exitCode() + ")\nstdout: "
                    + r.stdout() + "\nstderr: " + r.stderr());
        }
        return r;
    }

    static void tool(String... cmd) {
        QemuTools.Result r = QemuTools.run(cmd);
        if (r.exitCode() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed (" + r.exitCode() + "): " + r.stderr());
        }
    }

    /** A v3 image with two distinct data clusters at guest offsets 0 and 64 KiB. */
    static void clean(Path img, int seed) {
        tool("qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "64M");
        tool("qemu-io", "-c", "write -P " + (seed & 0xff) + " 0 64k", "-c", "write -P " + ((seed + 1) & 0xff)
                + " 64k 64k", "-c", "write -P " + ((seed + 2) & 0xff) + " " + (1 + seed % 50) + "M 4k", img.toString());
    }

    /** One leaked cluster: the first L2 entry is cleared while the cluster keeps its refcount. */
    static void leak(Path img, int seed) throws IOException {
        clean(img, seed);
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(l2Offset(f));
            f.writeLong(0);
        }
    }

    /** The second L2 entry points at the first one's cluster: refcount 1, two references. */
    static void corrupt(Path img, int seed) throws IOException {
        clean(img, seed);
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            long l2 = l2Offset(f);
            f.seek(l2);
            long first = f.readLong();
            f.seek(l2 + 8);
            f.writeLong(first);
        }
    }

    /** A dirty journal: a child `qjournal io --journal ... abort` dies before syncing it. */
    static void dirty(Path img, int seed) {
        tool("qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "64M");
        Run r = qj(Map.of(), "io", "--journal", "-c", "write -P " + (seed & 0xff) + " 0 64k", "-c", "abort",
                img.toString());
        if (r.exitCode() == 0) {
            throw new AssertionError("abort did not abort: " + r.stdout());
        }
    }

    private static long l2Offset(RandomAccessFile f) throws IOException {
        f.seek(40);
        long l1 = f.readLong();
        f.seek(l1);
        long l2 = f.readLong() & 0x00fffffffffffe00L;
        if (l2 == 0 || l2 >= f.length()) {
            throw new AssertionError("unexpected L1 entry in the test image");
        }
        return l2;
    }

    static String sha256(Path p) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** `report ID --output=json` parsed into image path -> flat fields. */
    static Map<String, Map<String, String>> report(Map<String, String> env, long id) {
        Run r = ok(env, "batch", "report", Long.toString(id), "--output=json");
        Map<String, Map<String, String>> out = new LinkedHashMap<>();
        for (String line : r.stdout().split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, String> m = flat(line);
            assertEquals(null, out.put(m.get("image"), m), "image reported twice: " + m.get("image"));
        }
        return out;
    }

    /** Our own report lines: flat objects of strings, numbers and booleans. */
    static Map<String, String> flat(String json) {
        Map<String, String> m = new LinkedHashMap<>();
        Matcher x = Pattern.compile("\"([^\"]+)\": (\"((?:[^\"\\\\]|\\\\.)*)\"|[^,}]+)").matcher(json);
        while (x.find()) {
            m.put(x.group(1), x.group(3) != null ? x.group(3).replace("\\\"", "\"").replace("\\\\", "\\") : x.group(2));
        }
        return m;
    }
}
