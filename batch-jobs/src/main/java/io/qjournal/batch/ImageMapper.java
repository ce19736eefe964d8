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
 * Plans {@code threads} partitions (fewer when there are fewer images), which take the images
 * not yet finished by this job instance from one shared {@link ImageQueue}. A partition per
 * image cost more in JBeret's repository writes than a small image's check itself.
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
                    all.size(), todo.size(), Reports.dirOf(q.settings(), jobContext.getJobName(), jobContext.getInstanceId()).toString());
        }
        List<String> names = new ArrayList<>(todo.size());
        todo.forEach(p -> names.add(p.toString()));
        ImageQueue.publish(jobContext.getExecutionId(), names);
        // JBeret needs at least one partition: an empty one does nothing and records nothing.
        int n = Math.max(1, Math.min(params.threads(), todo.size()));
        Properties[] props = new Properties[n];
        for (int i = 0; i < n; i++) {
            props[i] = new Properties();
        }
        PartitionPlanImpl plan = new PartitionPlanImpl();
        plan.setPartitions(n);
        plan.setThreads(n);
        plan.setPartitionProperties(props);
        plan.setPartitionsOverride(true);
        return plan;
    }
}
