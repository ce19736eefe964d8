package io.qjournal.batch;

import jakarta.batch.api.AbstractBatchlet;
import jakarta.batch.runtime.context.JobContext;
import jakarta.enterprise.context.Dependent;
import jakarta.inject.Inject;
import jakarta.inject.Named;
import java.nio.file.Path;
import java.sql.Connection;

/**
 * One partition: takes images from the execution's {@link ImageQueue} until it is empty; for
 * each, does the job's work, then records the result (the record marks the image done).
 * Its exit status is the worst finding among its images.
 */
@Named("qjournalImageBatchlet")
@Dependent
public class ImageBatchlet extends AbstractBatchlet {
    @Inject
    JobContext jobContext;

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
        QBatch q = QBatch.current();
        String job = jobContext.getJobName();
        long instance = jobContext.getInstanceId();
        long execution = jobContext.getExecutionId();
        JobParams params = JobParams.fromProperties(job, jobContext.getProperties());
        Finding worst = null;
        String image;
        while (!stopped && (image = ImageQueue.next(execution)) != null) {
            Finding f = one(q, params, job, instance, execution, image);
            worst = worst == null ? f : Finding.worst(worst, f);
        }
        // The partition is done when its images are recorded.
        Recorder.of(q, execution).flush();
        return worst == null ? "NONE" : worst.label();
    }

    private static Finding one(QBatch q, JobParams params, String job, long instance, long execution,
            String image) throws Exception {
        InProgress row = new InProgress(q, execution, image);
        if (PAUSE_MS > 0) {
            // Crash tests need a job slow enough to be killed in the middle.
            Thread.sleep(PAUSE_MS);
        }
        Path p = Path.of(image);
        boolean shown;
        LiveProgress live = new LiveProgress(q, execution, image);
        ImageRecord r;
        try {
            r = switch (job) {
                case "integrity-sweep" -> ImageWork.sweep(p, params.repair(), params.replay());
                case "journal-replay" -> ImageWork.sweep(p, io.qjournal.qcow2.check.RepairMode.NONE, true);
                case "dedup-compaction" -> DedupWork.compact(p, params.dryRun(), live::advanced);
                default -> throw new IllegalStateException("no work defined for job " + job);
            };
        } finally {
            shown = row.finish();
        }
        Recorder.of(q, execution).submit(new Recorder.Finished(instance, execution, job, r, shown));
        return r.result();
    }

    @Override
    public void stop() {
        // The image in hand finishes (its work is one unit); the images not yet taken stay
        // unrecorded, for a restart.
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
