package io.qjournal.batch;

import jakarta.batch.api.listener.AbstractJobListener;
import jakarta.batch.runtime.BatchStatus;
import jakarta.batch.runtime.context.JobContext;
import jakarta.enterprise.context.Dependent;
import jakarta.inject.Inject;
import jakarta.inject.Named;
import java.sql.Connection;
import java.util.List;

/** Sets the job's exit status to its worst finding and writes the report files. */
@Named("qjournalJobEnd")
@Dependent
public class JobEnd extends AbstractJobListener {
    @Inject
    JobContext jobContext;

    @Override
    public void afterJob() throws Exception {
        QBatch q = QBatch.current();
        ImageQueue.drop(jobContext.getExecutionId());
        Recorder.close(jobContext.getExecutionId());
        List<ResultStore.StoredImage> images;
        try (Connection c = q.connect()) {
            images = q.store().images(c, jobContext.getInstanceId());
        }
        Finding worst = Finding.CLEAN;
        for (ResultStore.StoredImage s : images) {
            worst = Finding.worst(worst, s.record().result());
        }
        if (jobContext.getBatchStatus() == BatchStatus.STARTED || jobContext.getBatchStatus() == BatchStatus.COMPLETED) {
            jobContext.setExitStatus(worst.label());
        }
        Reports.write(q.settings(), jobContext.getJobName(), jobContext.getInstanceId(), images);
        q.jobEnding();
    }
}
