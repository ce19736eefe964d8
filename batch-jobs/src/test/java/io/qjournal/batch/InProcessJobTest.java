package io.qjournal.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import jakarta.batch.runtime.BatchStatus;
import jakarta.batch.runtime.JobExecution;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runtime in this JVM: Weld SE and JBeret SE over an H2 file repository run the sweep's
 * partitions, record one row per image and set the exit status to the worst finding. Images
 * are made with the engine (no external tools), one held open (locked) by this test.
 */
class InProcessJobTest {
    @TempDir
    Path tmp;

    private QBatch q;

    @AfterEach
    void close() {
        if (q != null) {
            q.close();
        }
    }

    @Test
    void sweepRecordsEveryImageAndTheWorstFinding() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("images"));
        for (int i = 0; i < 5; i++) {
            Path p = dir.resolve("i" + i + ".qcow2");
            Qcow2Image.create(p, new CreateOptions().size(16 << 20));
            try (Qcow2Image img = Qcow2Image.open(p, OpenOptions.readWrite())) {
                img.write(i * 65536L, new byte[] {1, 2, 3}, 0, 3);
            }
        }
        Path held = dir.resolve("i4.qcow2");
        BatchSettings s = new BatchSettings(tmp.resolve("state"), BatchSettings.h2Url(tmp.resolve("state")), null, null,
                "unit-host");
        q = QBatch.open(s);
        try (Qcow2Image busy = Qcow2Image.open(held, OpenOptions.readWrite())) {
            Properties p = new Properties();
            p.setProperty("dirs", dir.toString());
            p.setProperty("threads", "2");
            long id = q.operator().start("integrity-sweep", p);
            JobExecution e = q.await(id, null);
            assertEquals(BatchStatus.COMPLETED, e.getBatchStatus());
            assertEquals("IN-USE", e.getExitStatus());
            long instance = q.operator().getJobInstance(id).getInstanceId();
            try (Connection c = q.connect()) {
                List<ResultStore.StoredImage> rows = q.store().images(c, instance);
                assertEquals(5, rows.size());
                for (ResultStore.StoredImage r : rows) {
                    String expected = r.record().image().endsWith("i4.qcow2") ? "IN-USE" : "CLEAN";
                    assertEquals(expected, r.record().result().label(), r.record().toString());
                    assertEquals("unit-host", r.host());
                }
                ResultStore.Run run = q.store().run(c, id);
                assertEquals(5, run.planned());
                assertEquals("unit-host", run.host());
            }
            Path reports = Reports.dirOf(s, "integrity-sweep", instance);
            assertEquals(5, Files.readAllLines(reports.resolve("records.jsonl")).size());
            assertTrue(Files.readString(reports.resolve("summary.txt")).contains("worst finding IN-USE"));
        }
    }
}
