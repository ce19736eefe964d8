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
        if (PAUSE_MS > 0) {
            // Crash tests need a job slow enough to be killed in the middle.
            Thread.sleep(PAUSE_MS);
        }
        Path p = Path.of(image);
        ImageRecord r = switch (job) {
            case "integrity-sweep" -> ImageWork.sweep(p, params.repair(), params.replay());
            case "journal-replay" -> ImageWork.sweep(p, io.qjournal.qcow2.check.RepairMode.NONE, true);
            case "dedup-compaction" -> DedupWork.compact(p, params.dryRun());
            default -> throw new IllegalStateException("no work defined for job " + job);
        };
        try (Connection c = q.connect()) {
            if (q.store().recordImage(c, instance, jobContext.getExecutionId(), job, r)) {
                Reports.append(q.settings(), job, instance, r);
            }
        }
        return r.result().label();
    }

    @Override
    public void stop() {
        // The image in hand finishes (its work is one unit); partitions not yet begun do nothing.
        stopped = true;
    }
}
