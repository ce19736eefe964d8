package io.qjournal.cli.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The `qjournal batch` commands as an operator meets them: errors, background start, stop, restart. */
class BatchCommandsIT {
    @TempDir
    Path tmp;

    @Test
    void badParametersFailBeforeAnyWork() throws Exception {
        Path state = tmp.resolve("state");
        Map<String, String> env = Map.of("QJOURNAL_BATCH_STATE", state.toString());
        Path images = Files.createDirectories(tmp.resolve("images"));
        String[][] cases = {
            {"no-such-job", "dirs=" + images, "unknown job 'no-such-job'"},
            {"integrity-sweep", "dirs=" + tmp.resolve("missing"), "missing: No such directory"},
            {"integrity-sweep", "threads=0", "threads=0: expecting a number from 1 to 256"},
            {"integrity-sweep", "repair=some", "repair=some: expecting leaks or all"},
            {"dedup-compaction", "dry-run=maybe", "dry-run=maybe: expecting true or false"},
        };
        for (String[] c : cases) {
            BatchTools.Run r = c[1].startsWith("dirs=")
                    ? BatchTools.qj(env, "batch", "start", c[0], "-p", c[1], "--wait")
                    : BatchTools.qj(env, "batch", "start", c[0], "-p", "dirs=" + images, "-p", c[1], "--wait");
            assertEquals(1, r.exitCode(), c[2]);
            assertEquals("", r.stdout(), "no execution for " + c[2]);
            assertEquals(1, r.stderr().lines().count(), "one line: " + r.stderr());
            assertTrue(r.stderr().startsWith("qjournal: ") && r.stderr().contains(c[2]), r.stderr());
        }
        assertFalse(Files.exists(state), "nothing was created for a rejected job");
        BatchTools.Run none = BatchTools.qj(env, "batch", "start", "integrity-sweep", "-p", "dirs=" + images, "--wait");
        assertEquals(0, none.exitCode(), "an empty directory is a clean sweep: " + none.stderr());
        assertEquals("", BatchTools.ok(env, "batch", "report", Long.toString(none.execution()), "--output=json").stdout());
    }

    /**
     * A short sweep's command ends only once the repository holds its end: exiting between
     * JBeret's in-memory end and its write left executions STARTED (and a stack trace from the
     * write). Nothing else may reach stderr either (Weld logs at INFO when it starts early).
     */
    @Test
    void quickSweepsEndRecordedAndSilent() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path images = Files.createDirectories(tmp.resolve("images"));
        BatchTools.clean(images.resolve("a.qcow2"), 1);
        BatchTools.clean(images.resolve("b.qcow2"), 2);
        Map<String, String> env = Map.of("QJOURNAL_BATCH_STATE", tmp.resolve("state").toString());
        int runs = 8;
        for (int i = 0; i < runs; i++) {
            BatchTools.Run r = BatchTools.qj(env, "batch", "start", "integrity-sweep", "-p", "dirs=" + images, "--wait",
                    "-q");
            assertEquals(0, r.exitCode(), r.stderr());
            assertEquals("", r.stderr(), "run " + i);
            String status = BatchTools.ok(env, "batch", "status", Long.toString(r.execution())).stdout();
            assertTrue(status.contains("status:   COMPLETED"), "run " + i + ":\n" + status);
        }
    }

    @Test
    void backgroundStartStopAndRestart() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path images = Files.createDirectories(tmp.resolve("images"));
        for (int i = 0; i < 12; i++) {
            BatchTools.clean(images.resolve("i" + i + ".qcow2"), i);
        }
        BatchTools.leak(images.resolve("leaky.qcow2"), 77);
        Map<String, String> slow = Map.of("QJOURNAL_BATCH_STATE", tmp.resolve("state").toString(),
                "QJOURNAL_BATCH_TEST_PAUSE_MS", "300");
        Map<String, String> env = Map.of("QJOURNAL_BATCH_STATE", tmp.resolve("state").toString());
        // Without --wait the job runs in a detached child; the command returns with its id.
        BatchTools.Run start = BatchTools.ok(slow, "batch", "start", "integrity-sweep", "-p", "dirs=" + images,
                "-p", "threads=1");
        long id = start.execution();
        assertTrue(start.stdout().contains("running in the background"), start.stdout());
        BatchTools.Run stop = BatchTools.ok(env, "batch", "stop", Long.toString(id));
        assertTrue(stop.stdout().contains("stop requested"), stop.stdout());
        String status;
        do {
            Thread.sleep(200);
            status = BatchTools.ok(env, "batch", "status", Long.toString(id)).stdout();
        } while (status.contains("STARTED") || status.contains("STOPPING"));
        assertTrue(status.contains("status:   STOPPED"), status);
        int done = Integer.parseInt(status.replaceAll("(?s).*images:   (\\d+) done.*", "$1"));
        assertTrue(done < 13, "the stop came before the end: " + status);

        BatchTools.Run restart = BatchTools.qj(env, "batch", "restart", Long.toString(id), "--wait");
        assertEquals(3, restart.exitCode(), "worst finding LEAKS\n" + restart.stdout() + restart.stderr());
        long id2 = restart.execution();
        assertEquals(13, BatchTools.report(env, id2).size());
        String human = BatchTools.ok(env, "batch", "report", Long.toString(id2)).stdout();
        assertTrue(human.contains("13 images, worst finding LEAKS") && human.contains("LEAKS " + images.toRealPath()
                .resolve("leaky.qcow2") + " leaks=1"), human);
        String list = BatchTools.ok(env, "batch", "list", "integrity-sweep").stdout();
        assertTrue(list.contains(" STOPPED ") && list.contains(" COMPLETED "), list);
        BatchTools.Run again = BatchTools.qj(env, "batch", "restart", Long.toString(id2));
        assertEquals(1, again.exitCode());
        assertTrue(again.stderr().contains("is COMPLETED"), again.stderr());
    }

    @Test
    void sigtermStopsTheJobCleanly() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path images = Files.createDirectories(tmp.resolve("images"));
        for (int i = 0; i < 6; i++) {
            BatchTools.clean(images.resolve("i" + i + ".qcow2"), i);
        }
        Map<String, String> env = Map.of("QJOURNAL_BATCH_STATE", tmp.resolve("state").toString());
        ProcessBuilder pb = new ProcessBuilder(BatchTools.qjournal().toString(), "batch", "start", "integrity-sweep",
                "-p", "dirs=" + images, "-p", "threads=1", "--wait").redirectError(tmp.resolve("err").toFile());
        pb.environment().putAll(env);
        pb.environment().put("QJOURNAL_BATCH_TEST_PAUSE_MS", "300");
        Process p = pb.start();
        long id = -1;
        try (java.io.BufferedReader r = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(),
                java.nio.charset.StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.startsWith("execution ")) {
                    id = Long.parseLong(line.substring(10).trim());
                } else if (line.startsWith("[1/")) {
                    // SIGTERM, as systemctl stop sends it (the launcher execs the JVM for batch).
                    p.descendants().forEach(ProcessHandle::destroy);
                    p.toHandle().destroy();
                }
            }
        }
        assertEquals(Waiter.EXIT_STOPPED, p.waitFor(), Files.readString(tmp.resolve("err")));
        assertTrue(Files.readString(tmp.resolve("err")).contains("stopping execution " + id));
        String status = BatchTools.ok(env, "batch", "status", Long.toString(id)).stdout();
        assertTrue(status.contains("status:   STOPPED"), status);
        BatchTools.Run restart = BatchTools.qj(env, "batch", "restart", Long.toString(id), "--wait", "-q");
        assertEquals(0, restart.exitCode(), restart.stdout() + restart.stderr());
        assertEquals(6, BatchTools.report(env, restart.execution()).size());
    }
}
