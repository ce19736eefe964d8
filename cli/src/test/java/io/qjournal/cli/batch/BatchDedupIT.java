package io.qjournal.cli.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * dedup-compaction as a batch job: images with known duplicate and zero clusters shrink by
 * the expected amount, keep their guest contents (qemu-img compare) and check clean; dry-run
 * reports the same win without writing.
 */
class BatchDedupIT {
    static final long MIB = 1 << 20;

    static long expectedWon(int[] shape) {
        return (shape[0] * 16L - 1) * 65536 + shape[1] * MIB;
    }

    @TempDir
    Path tmp;

    @Test
    void dedupCompactionShrinksAndKeepsContents() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path dir = Files.createDirectories(tmp.resolve("images"));
        Path orig = Files.createDirectories(tmp.resolve("originals"));
        // n MiB of one byte pattern (16 n identical 64 KiB clusters) plus z MiB of written
        // zeroes: all but one of the pattern clusters and all the zero clusters can go.
        int[][] shapes = {{4, 2}, {1, 3}, {6, 0}, {1, 0}};
        for (int i = 0; i < shapes.length; i++) {
            Path img = dir.resolve("d" + i + ".qcow2");
            BatchTools.tool("qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "64M");
            java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("qemu-io"));
            for (int k = 0; k < shapes[i][0]; k++) {
                cmd.add("-c");
                cmd.add("write -P " + (0x20 + i) + " " + (k * 2) + "M 1M");
            }
            for (int k = 0; k < shapes[i][1]; k++) {
                cmd.add("-c");
                cmd.add("write -P 0 " + (32 + k) + "M 1M");
            }
            cmd.add(img.toString());
            BatchTools.tool(cmd.toArray(new String[0]));
            Files.copy(img, orig.resolve(img.getFileName()));
        }
        Map<String, String> env = Map.of("QJOURNAL_BATCH_STATE", tmp.resolve("state").toString());
        Map<String, String> sums = new java.util.HashMap<>();
        for (int i = 0; i < shapes.length; i++) {
            sums.put("d" + i, BatchTools.sha256(dir.resolve("d" + i + ".qcow2")));
        }
        BatchTools.Run dry = BatchTools.qj(env, "batch", "start", "dedup-compaction", "-p", "dirs=" + dir,
                "-p", "dry-run=true", "--wait", "-q");
        assertEquals(0, dry.exitCode(), dry.stdout() + dry.stderr());
        Map<String, Map<String, String>> dryReport = BatchTools.report(env, dry.execution());
        for (int i = 0; i < shapes.length; i++) {
            Path img = dir.resolve("d" + i + ".qcow2");
            assertEquals(sums.get("d" + i), BatchTools.sha256(img), "dry-run wrote " + img);
            long won = Long.parseLong(dryReport.get(img.toRealPath().toString()).get("bytes-won"));
            assertEquals(expectedWon(shapes[i]), won, "dry-run estimate for " + img);
        }

        BatchTools.Run run = BatchTools.qj(env, "batch", "start", "dedup-compaction", "-p", "dirs=" + dir, "--wait");
        assertEquals(0, run.exitCode(), run.stdout() + run.stderr());
        Map<String, Map<String, String>> report = BatchTools.report(env, run.execution());
        assertEquals(shapes.length, report.size());
        for (int i = 0; i < shapes.length; i++) {
            Path img = dir.resolve("d" + i + ".qcow2");
            Map<String, String> r = report.get(img.toRealPath().toString());
            long before = Long.parseLong(r.get("size-before"));
            long after = Long.parseLong(r.get("size-after"));
            long expectWon = expectedWon(shapes[i]);
            assertEquals(expectWon, Long.parseLong(r.get("bytes-won")), r.toString());
            // The file shrinks by the freed clusters, give or take a metadata cluster.
            assertTrue(Math.abs(before - after - expectWon) <= 65536, img + " shrank by " + (before - after)
                    + ", expected " + expectWon);
            assertEquals(after, QemuTools.qemuImgJson("info", img.toString()).number("actual-size"), "actual-size");
            assertEquals("CLEAN", r.get("result"), r.toString());
            QemuTools.Result cmp = QemuTools.qemuImg("compare", orig.resolve(img.getFileName()).toString(), img.toString());
            assertEquals(0, cmp.exitCode(), "guest contents of " + img + ": " + cmp.stdout() + cmp.stderr());
            assertEquals(0, QemuTools.qemuImg("check", img.toString()).exitCode(), img + " checks clean");
        }
    }
}
