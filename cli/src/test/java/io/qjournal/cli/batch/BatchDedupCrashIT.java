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
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A dedup-compaction job SIGKILLed at a random moment after its first image: `restart --wait`
 * finishes it (the image cut short replays its journal and is compacted again), every image
 * keeps its guest contents and checks clean with qemu-img. Seeded; the seed is in the message.
 */
class BatchDedupCrashIT {
    static final int IMAGES = 4;

    @TempDir
    Path tmp;

    @Test
    void killedDedupJobRestartsToTheSameContents() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        long seed = Long.getLong("qjournal.seed", System.nanoTime());
        Random rnd = new Random(seed);
        String why = " (seed " + seed + "; rerun with -Dqjournal.seed=" + seed + ")";
        Path dir = Files.createDirectories(tmp.resolve("images"));
        Path orig = Files.createDirectories(tmp.resolve("orig"));
        for (int i = 0; i < IMAGES; i++) {
            Path img = dir.resolve("d" + i + ".qcow2");
            BatchTools.tool("qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "128M");
            List<String> cmd = new ArrayList<>(List.of("qemu-io"));
            for (int m = 0; m < 40; m++) {
                int kind = rnd.nextInt(4);
                cmd.add("-c");
                cmd.add(kind == 0 ? "write -P 0 " + m + "M 1M" : "write -P " + (kind + 16 * i) + " " + m + "M 1M");
            }
            cmd.add(img.toString());
            BatchTools.tool(cmd.toArray(new String[0]));
            Files.copy(img, orig.resolve(img.getFileName()));
        }
        String state = tmp.resolve("state").toString();
        Map<String, String> env = Map.of("QJOURNAL_BATCH_STATE", state);
        ProcessBuilder pb = new ProcessBuilder(BatchTools.qjournal().toString(), "batch", "start", "dedup-compaction",
                "-p", "dirs=" + dir, "-p", "threads=1", "--wait").redirectError(tmp.resolve("err").toFile());
        pb.environment().put("QJOURNAL_BATCH_STATE", state);
        // Images 2 to 4 wait 300 ms each before their work: the job cannot end within the
        // kill's random delay (under 400 ms), which falls in a pause or in a compaction.
        pb.environment().put("QJOURNAL_BATCH_TEST_PAUSE_MS", "300");
        Process p = pb.start();
        long id = -1;
        boolean killed = false;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.startsWith("execution ")) {
                    id = Long.parseLong(line.substring(10).trim());
                } else if (line.startsWith("[1/")) {
                    Thread.sleep(rnd.nextInt(400));
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                    killed = true;
                    break;
                }
            }
        }
        p.waitFor();
        assertTrue(id > 0 && killed, "the job ended before it could be killed" + why + Files.readString(tmp.resolve("err")));

        BatchTools.Run restart = BatchTools.qj(env, "batch", "restart", Long.toString(id), "--wait");
        assertEquals(0, restart.exitCode(), restart.stdout() + restart.stderr() + why);
        Map<String, Map<String, String>> report = BatchTools.report(env, restart.execution());
        assertEquals(IMAGES, report.size(), why);
        for (int i = 0; i < IMAGES; i++) {
            Path img = dir.resolve("d" + i + ".qcow2");
            assertEquals("CLEAN", report.get(img.toRealPath().toString()).get("result"), img + why);
            QemuTools.Result cmp = QemuTools.qemuImg("compare", orig.resolve(img.getFileName()).toString(), img.toString());
            assertEquals(0, cmp.exitCode(), "contents of " + img + why + ": " + cmp.stdout() + cmp.stderr());
            QemuTools.Result check = QemuTools.qemuImg("check", img.toString());
            assertEquals(0, check.exitCode(), img + why + ": " + check.stdout() + check.stderr());
            long actual = QemuTools.qemuImgJson("info", img.toString()).number("actual-size");
            long origActual = QemuTools.qemuImgJson("info", orig.resolve(img.getFileName()).toString()).number("actual-size");
            assertTrue(actual < origActual, img + " did not shrink: " + actual + " >= " + origActual + why);
        }
    }
}
