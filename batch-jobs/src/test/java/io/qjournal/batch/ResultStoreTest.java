package io.qjournal.batch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.sql.Connection;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The repository writes of a running job against a real H2 file: the group commit of finished
 * images (with a duplicate among them, as after a crash between an image's work and its
 * record) and the in-progress rows that only images taking a while get.
 */
class ResultStoreTest {
    @TempDir
    Path tmp;

    private QBatch q;

    @BeforeEach
    void open() {
        q = QBatch.open(new BatchSettings(tmp, BatchSettings.h2Url(tmp), null, null, "unit-host"));
    }

    @AfterEach
    void close() {
        q.close();
    }

    private static Recorder.Finished done(String image, boolean clear) {
        ImageRecord r = new ImageRecord(image, Finding.CLEAN, 0, 0, 0, false, false, 1, 0, 0, 0, 0, null);
        return new Recorder.Finished(7, 70, "integrity-sweep", r, clear);
    }

    @Test
    void aBatchWithADuplicateRecordsEachImageOnce() throws Exception {
        try (Connection c = q.connect()) {
            assertArrayEquals(new boolean[] {true, true},
                    q.store().finishAll(c, List.of(done("/i/a", false), done("/i/b", false))));
            q.store().begin(c, 70, "/i/c");
            assertArrayEquals(new boolean[] {false, true},
                    q.store().finishAll(c, List.of(done("/i/b", false), done("/i/c", true))));
            assertEquals(3, q.store().images(c, 7).size());
            assertTrue(q.store().isDone(c, 7, "/i/c"));
            assertFalse(q.store().isDone(c, 8, "/i/c"));
            assertTrue(q.store().active(c, 70).isEmpty(), "the finished image's in-progress row went with it");
        }
    }

    @Test
    void theRecorderCommitsEverythingSubmittedBeforeAFlush() throws Exception {
        Recorder r = Recorder.of(q, 70);
        for (int i = 0; i < 50; i++) {
            r.submit(done("/i/" + i, false));
        }
        r.flush();
        try (Connection c = q.connect()) {
            assertEquals(50, q.store().images(c, 7).size());
        }
        Recorder.close(70);
    }

    @Test
    void onlyAnImageThatTakesAWhileGetsAnInProgressRow() throws Exception {
        InProgress quick = new InProgress(q, 70, "/i/quick");
        assertFalse(quick.finish());
        InProgress slow = new InProgress(q, 70, "/i/slow");
        Thread.sleep(InProgress.SHOW_AFTER_MS + 700);
        try (Connection c = q.connect()) {
            List<ResultStore.Active> active = q.store().active(c, 70);
            assertEquals(1, active.size(), active.toString());
            assertEquals("/i/slow", active.get(0).image());
        }
        assertTrue(slow.finish());
    }
}
