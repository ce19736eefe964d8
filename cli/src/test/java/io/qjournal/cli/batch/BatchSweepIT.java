package io.qjournal.cli.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuLockHolder;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A directory of 51 images (clean, leaking, corrupt, with dirty journals, one held open by a
 * running qemu-io): the sweep's findings agree with qemu-img check on every image, the locked
 * image is reported IN-USE and left byte-identical, and journal-replay / repair=leaks fix
 * what they should.
 */
class BatchSweepIT {
    @TempDir
    Path tmp;

    @Test
    void sweepAgreesWithQemuImgCheck() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path dir = Files.createDirectories(tmp.resolve("images"));
        Map<String, String> env = Map.of("QJOURNAL_BATCH_STATE", tmp.resolve("state").toString());
        Map<String, String> kind = new LinkedHashMap<>();
        for (int i = 0; i < 32; i++) {
            BatchTools.clean(dir.resolve(String.format("clean-%02d.qcow2", i)), i);
            kind.put(String.format("clean-%02d.qcow2", i), "CLEAN");
        }
        for (int i = 0; i < 8; i++) {
            BatchTools.leak(dir.resolve("leak-" + i + ".qcow2"), 40 + i);
            kind.put("leak-" + i + ".qcow2", "LEAKS");
        }
        for (int i = 0; i < 6; i++) {
            BatchTools.corrupt(dir.resolve("corrupt-" + i + ".qcow2"), 60 + i);
            kind.put("corrupt-" + i + ".qcow2", "CORRUPT");
        }
        for (int i = 0; i < 4; i++) {
            BatchTools.dirty(dir.resolve("dirty-" + i + ".qcow2"), 80 + i);
            kind.put("dirty-" + i + ".qcow2", "DIRTY-JOURNAL");
        }
        Path locked = dir.resolve("locked.qcow2");
        BatchTools.clean(locked, 99);
        kind.put("locked.qcow2", "IN-USE");
        Files.writeString(dir.resolve("notes.txt"), "not an image: the pattern leaves it out");

        try (QemuLockHolder holder = QemuLockHolder.start(locked, tmp.resolve("holder.log"))) {
            Map<String, QemuTools.JsonResult> qemu = new HashMap<>();
            Map<String, String> sums = new HashMap<>();
            for (String name : kind.keySet()) {
                Path p = dir.resolve(name);
                qemu.put(name, QemuTools.qemuImgJson("check", p.toString()));
                sums.put(name, BatchTools.sha256(p));
            }
            assertTrue(holder.isAlive(), "the qemu-io holding locked.qcow2 exited: " + holder.output());

            java.time.Instant before = java.time.Instant.now();
            BatchTools.Run sweep = BatchTools.qj(env, "batch", "start", "integrity-sweep", "-p", "dirs=" + dir,
                    "-p", "threads=2", "--wait");
            assertEquals(2, sweep.exitCode(), "worst finding CORRUPT\n" + sweep.stdout() + sweep.stderr());
            assertTrue(sweep.stdout().startsWith("execution "), sweep.stdout());
            assertTrue(sweep.stdout().contains("[51/51] "), "a progress line per image\n" + sweep.stdout());
            long id = sweep.execution();
            Map<String, Map<String, String>> report = BatchTools.report(env, id);
            assertEquals(51, report.size(), report.keySet().toString());
            for (String name : kind.keySet()) {
                Path p = dir.resolve(name).toRealPath();
                Map<String, String> r = report.get(p.toString());
                assertTrue(r != null, "no record for " + p);
                for (String key : new String[] {"image", "result", "leaks", "corruptions", "duration-ms", "finished"}) {
                    assertTrue(r.containsKey(key), key + " missing in " + r);
                }
                java.time.Instant finished = java.time.Instant.parse(r.get("finished"));
                assertTrue(!finished.isBefore(before) && !finished.isAfter(java.time.Instant.now()), "finished " + finished);
                QemuTools.JsonResult q = qemu.get(name);
                String expected = switch (q.result().exitCode()) {
                    case 0 -> "CLEAN";
                    case 2 -> "CORRUPT";
                    case 3 -> "LEAKS";
                    default -> q.result().stderr().contains("journal dirty") ? "DIRTY-JOURNAL"
                            : q.result().stderr().contains("lock") ? "IN-USE" : "qemu-img: " + q.result().stderr();
                };
                assertEquals(kind.get(name), expected, name + ": the test image is not what it was made to be");
                assertEquals(expected, r.get("result"), name + ": " + r);
                if (q.result().exitCode() != 1) {
                    assertEquals(q.number("leaks"), Long.parseLong(r.get("leaks")), name + " leaks");
                    assertEquals(q.number("corruptions"), Long.parseLong(r.get("corruptions")), name + " corruptions");
                }
                assertEquals(sums.get(name), BatchTools.sha256(dir.resolve(name)), name + " changed by a read-only sweep");
            }
            Path reports = tmp.resolve("state/reports");
            try (var s = Files.list(reports)) {
                Path d = s.findFirst().orElseThrow();
                assertEquals(51, Files.readAllLines(d.resolve("records.jsonl")).size());
                assertTrue(Files.readString(d.resolve("summary.txt")).contains("worst finding CORRUPT"));
            }

            // journal-replay: dirty journals replayed, then checked clean by QEMU; the locked image untouched.
            BatchTools.Run replay = BatchTools.qj(env, "batch", "start", "journal-replay", "-p", "dirs=" + dir,
                    "-p", "pattern=*-?.qcow2", "--wait", "-q");
            Map<String, Map<String, String>> rr = BatchTools.report(env, replay.execution());
            assertEquals(18, rr.size(), rr.keySet().toString());
            for (int i = 0; i < 4; i++) {
                Path p = dir.resolve("dirty-" + i + ".qcow2");
                Map<String, String> r = rr.get(p.toRealPath().toString());
                assertEquals("CLEAN", r.get("result"), r.toString());
                assertEquals("true", r.get("replayed"), r.toString());
                assertEquals(0, QemuTools.qemuImg("check", p.toString()).exitCode(), p + " after replay");
            }
            // repair=leaks: qemu-img finds the leaks gone, the corruptions still there.
            BatchTools.Run repair = BatchTools.qj(env, "batch", "start", "integrity-sweep", "-p", "dirs=" + dir,
                    "-p", "pattern=leak-*.qcow2", "-p", "repair=leaks", "--wait", "-q");
            assertEquals(0, repair.exitCode(), repair.stdout() + repair.stderr());
            for (int i = 0; i < 8; i++) {
                assertEquals(0, QemuTools.qemuImg("check", dir.resolve("leak-" + i + ".qcow2").toString()).exitCode());
            }
            assertEquals(sums.get("locked.qcow2"), BatchTools.sha256(locked), "the locked image was written");
        }
    }
}
