package io.qjournal.batch;

import jakarta.batch.api.AbstractBatchlet;
import jakarta.batch.api.BatchProperty;
import jakarta.batch.runtime.context.JobContext;
import jakarta.enterprise.context.Dependent;
import jakarta.inject.Inject;
import jakarta.inject.Named;
import java.nio.file.Path;
import java.sql.Connection;

/** One image: do the job's work on it, then record the result (the record marks it done). */
@Named("qjournalImageBatchlet")
@Dependent
public class ImageBatchlet extends AbstractBatchlet {
    @Inject
    JobContext jobContext;

    @Inject
    @BatchProperty(name = "image")
    String image;

    private static final long PAUSE_MS = pause();

    private volatile boolean stopped;

    private static long pause() {
        try {
            String v = System.getenv("QJOURNAL_BATCH_TEST_PAUSE_MS");
            return v == null ? 0 : Math.max(0, Math.min(10_000, Long.parseLong(v)));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    @Override
    public String process() throws Exception {
        if (image == null || image.isEmpty() || stopped) {
            return "NONE";
        }
        QBatch q = QBatch.current();
        String job = jobContext.getJobName();
        long instance = jobContext.getInstanceId();
        try (Connection c = q.connect()) {
            if (q.store().doneImages(c, instance).contains(image)) {
                return "DONE-BEFORE";
            }
        }
        JobParams params = JobParams.fromProperties(job, jobContext.getProperties());
        Path p = Path.of(image);
        long execution = jobContext.getExecutionId();
        try (Connection c = q.connect()) {
            q.store().begin(c, execution, image);
        }
        if (PAUSE_MS > 0) {
            // Crash tests need a job slow enough to be killed in the middle.
            Thread.sleep(PAUSE_MS);
        }
        LiveProgress live = new LiveProgress(q, execution, image);
        ImageRecord r = switch (job) {
            case "integrity-sweep" -> ImageWork.sweep(p, params.repair(), params.replay());
            case "journal-replay" -> ImageWork.sweep(p, io.qjournal.qcow2.check.RepairMode.NONE, true);
            case "dedup-compaction" -> DedupWork.compact(p, params.dryRun(), live::advanced);
            default -> throw new IllegalStateException("no work defined for job " + job);
        };
        try (Connection c = q.connect()) {
            if (q.store().recordImage(c, instance, execution, job, r)) {
                Reports.append(q.settings(), job, instance, r);
            }
            q.store().end(c, execution, image);
        }
        return r.result().label();
    }

    @Override
    public void stop() {
        // The image in hand finishes (its work is one unit); partitions not yet begun do nothing.
        stopped = true;
    }

    /** Writes an image's running byte counts to the repository at most once a second. */
    static final class LiveProgress {
        private final QBatch q;
        private final long execution;
        private final String image;
        private long last = System.nanoTime();

        LiveProgress(QBatch q, long execution, String image) {
            this.q = q;
            this.execution = execution;
            this.image = image;
        }

        void advanced(long scanned, long won) {
            long now = System.nanoTime();
            if (now - last < 1_000_000_000L) {
                return;
            }
            last = now;
            try (Connection c = q.connect()) {
                q.store().progress(c, execution, image, scanned, won);
            } catch (java.sql.SQLException e) {
                // Progress is for watching; the work goes on without it.
            }
        }
    }
}
