package io.qjournal.batch;

import jakarta.batch.api.partition.PartitionMapper;
import jakarta.batch.api.partition.PartitionPlan;
import jakarta.batch.api.partition.PartitionPlanImpl;
import jakarta.batch.runtime.context.JobContext;
import jakarta.enterprise.context.Dependent;
import jakarta.inject.Inject;
import jakarta.inject.Named;
import java.nio.file.Path;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;

/**
 * One partition per image not yet finished by this job instance, {@code threads} at a time.
 * The plan is computed afresh on every (re)start, so a restart after a crash runs only the
 * images the crashed execution had not recorded.
 */
@Named("qjournalImageMapper")
@Dependent
public class ImageMapper implements PartitionMapper {
    @Inject
    JobContext jobContext;

    @Override
    public PartitionPlan mapPartitions() throws Exception {
        QBatch q = QBatch.current();
        JobParams params = JobParams.fromProperties(jobContext.getJobName(), jobContext.getProperties());
        List<Path> all = params.images();
        List<Path> todo = new ArrayList<>();
        try (Connection c = q.connect()) {
            Set<String> done = q.store().doneImages(c, jobContext.getInstanceId());
            for (Path p : all) {
                if (!done.contains(p.toString())) {
                    todo.add(p);
                }
            }
            q.store().recordRun(c, jobContext.getExecutionId(), jobContext.getInstanceId(), jobContext.getJobName(),
                    all.size(), Reports.dirOf(q.settings(), jobContext.getJobName(), jobContext.getInstanceId()).toString());
        }
        // JBeret needs at least one partition: an empty one does nothing and records nothing.
        int n = Math.max(1, todo.size());
        Properties[] props = new Properties[n];
        for (int i = 0; i < n; i++) {
            props[i] = new Properties();
            props[i].setProperty("image", i < todo.size() ? todo.get(i).toString() : "");
        }
        PartitionPlanImpl plan = new PartitionPlanImpl();
        plan.setPartitions(n);
        plan.setThreads(Math.min(params.threads(), n));
        plan.setPartitionProperties(props);
        plan.setPartitionsOverride(true);
        return plan;
    }
}
