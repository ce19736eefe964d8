package io.qjournal.cli.batch;

import io.qjournal.batch.ImageRecord;
import io.qjournal.batch.JberetTables;
import io.qjournal.batch.QBatch;
import io.qjournal.batch.Reports;
import io.qjournal.batch.ResultStore;
import java.sql.Connection;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * `batch report ID [--output=human|json]`: the per-image records of the execution's job
 * instance (a restarted job reports its images once, whichever execution did them).
 */
@Command(name = "report", description = "Print an execution's per-image report.",
        mixinStandardHelpOptions = true, version = "qjournal batch")
public final class ReportCommand implements Callable<Integer> {
    @ParentCommand
    BatchCommand parent;

    @Mixin
    BatchCommand.Repo repo;

    @Parameters(index = "0", paramLabel = "ID")
    long id;

    @Option(names = "--output", paramLabel = "human|json", description = "human (default) or json (JSON lines)")
    String output = "human";

    @Override
    public Integer call() throws Exception {
        if (!output.equals("human") && !output.equals("json")) {
            throw new IllegalArgumentException("--output must be 'human' or 'json', not '" + output + "'");
        }
        QBatch q = parent.open(repo);
        try (Connection c = q.connect()) {
            JberetTables.Execution e = JberetTables.exist(c) ? JberetTables.execution(c, id) : null;
            if (e == null) {
                throw new IllegalArgumentException("no execution " + id + " in the job repository");
            }
            List<ResultStore.StoredImage> images = q.store().images(c, e.instanceId());
            if (output.equals("json")) {
                StringBuilder sb = new StringBuilder();
                for (ResultStore.StoredImage i : images) {
                    var m = i.record().toJson(e.job());
                    m.put("execution", i.executionId());
                    m.put("host", i.host());
                    m.put("finished", i.finished().toInstant().toString());
                    sb.append(ImageRecord.json(m)).append('\n');
                }
                System.out.print(sb);
            } else {
                System.out.print(Reports.human(e.job(), e.instanceId(), images));
            }
        }
        return 0;
    }
}
