package io.qjournal.cli.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sweep JVM is SIGKILLed mid-job; `batch restart ID --wait` finishes it without redoing the
 * images the killed execution recorded, and the outcome equals an uninterrupted sweep of a copy.
 */
class BatchRestartIT {
    static final int IMAGES = 30;

    @TempDir
    Path tmp;

    @Test
    void restartAfterSigkillFinishesWithoutRedoing() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path a = Files.createDirectories(tmp.resolve("a"));
        Path b = Files.createDirectories(tmp.resolve("b"));
        for (int i = 0; i < IMAGES; i++) {
            Path img = a.resolve(String.format("img-%02d.qcow2", i));
            if (i % 6 == 1) {
                BatchTools.leak(img, i);
            } else if (i % 6 == 4) {
                BatchTools.corrupt(img, i);
            } else {
                BatchTools.clean(img, i);
            }
            Files.copy(img, b.resolve(img.getFileName()));
        }
        Map<String, String> envB = Map.of("QJOURNAL_BATCH_STATE", tmp.resolve("state-b").toString());
        BatchTools.Run whole = BatchTools.qj(envB, "batch", "start", "integrity-sweep", "-p", "dirs=" + b, "--wait", "-q");
        Map<String, String> expected = byName(BatchTools.report(envB, whole.execution()));
        assertEquals(IMAGES, expected.size());

        String state = tmp.resolve("state-a").toString();
        Map<String, String> envA = Map.of("QJOURNAL_BATCH_STATE", state);
        ProcessBuilder pb = new ProcessBuilder(BatchTools.qjournal().toString(), "batch", "start", "integrity-sweep",
                "-p", "dirs=" + a, "-p", "threads=2", "--wait").redirectError(tmp.resolve("killed.err").toFile());
        pb.environment().put("QJOURNAL_BATCH_STATE", state);
        pb.environment().put("QJOURNAL_BATCH_TEST_PAUSE_MS", "150");
        Process p = pb.start();
        long id = -1;
        int seen = 0;
        List<String> lines = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                lines.add(line);
                if (line.startsWith("execution ")) {
                    id = Long.parseLong(line.substring(10).trim());
                } else if (line.startsWith("[") && ++seen == 6) {
                    // SIGKILL the JVM itself (the launcher may run it as a child).
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                    break;
                }
            }
        }
        p.waitFor();
        assertTrue(id > 0 && seen == 6, "the sweep ended before it could be killed: " + lines + "\n"
                + Files.readString(tmp.resolve("killed.err")));

        String status = BatchTools.ok(envA, "batch", "status", Long.toString(id)).stdout();
        assertTrue(status.contains("STARTED") && status.contains("process is gone"), status);

        BatchTools.Run restart = BatchTools.qj(envA, "batch", "restart", Long.toString(id), "--wait");
        assertEquals(whole.exitCode(), restart.exitCode(), restart.stdout() + restart.stderr());
        long id2 = restart.execution();
        assertTrue(id2 > id, restart.stdout());

        Map<String, Map<String, String>> report = BatchTools.report(envA, id2);
        assertEquals(IMAGES, report.size(), "each image once");
        assertEquals(expected, byName(report), "outcome of the restarted sweep");
        int byKilled = 0;
        int byRestart = 0;
        for (Map<String, String> m : report.values()) {
            long e = Long.parseLong(m.get("execution"));
            if (e == id) {
                byKilled++;
            } else if (e == id2) {
                byRestart++;
            }
        }
        assertTrue(byKilled >= 6 && byKilled < IMAGES, "the killed execution recorded " + byKilled);
        assertEquals(IMAGES, byKilled + byRestart);
        // The restart planned the remaining images only.
        String st2 = BatchTools.ok(envA, "batch", "status", Long.toString(id2)).stdout();
        Matcher m = Pattern.compile("(\\d+) by this execution, which had (\\d+) to do").matcher(st2);
        assertTrue(m.find(), st2);
        assertEquals(IMAGES - byKilled, Integer.parseInt(m.group(2)), st2);
        assertEquals(IMAGES - byKilled, Integer.parseInt(m.group(1)), st2);
        assertTrue(st2.contains("COMPLETED"), st2);
        String list = BatchTools.ok(envA, "batch", "list").stdout();
        assertTrue(list.contains(" FAILED ") || list.contains(" STARTED "), "the killed execution stays in the history\n"
                + list);
    }

    private static Map<String, String> byName(Map<String, Map<String, String>> report) {
        Map<String, String> out = new HashMap<>();
        report.forEach((image, m) -> out.put(Path.of(image).getFileName().toString(),
                m.get("result") + " leaks=" + m.get("leaks") + " corruptions=" + m.get("corruptions")));
        return out;
    }
}
