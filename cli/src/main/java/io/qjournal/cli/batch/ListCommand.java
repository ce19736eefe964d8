package io.qjournal.cli.batch;

import io.qjournal.batch.JberetTables;
import io.qjournal.batch.QBatch;
import io.qjournal.batch.ResultStore;
import java.sql.Connection;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** `batch list [JOB] [--host H]`: the execution history in the repository, every host's by default. */
@Command(name = "list", description = "List executions (all hosts sharing the repository, or one with --host).",
        mixinStandardHelpOptions = true, version = "qjournal batch")
public final class ListCommand implements Callable<Integer> {
    @ParentCommand
    BatchCommand parent;

    @Mixin
    BatchCommand.Repo repo;

    @Parameters(index = "0", arity = "0..1", paramLabel = "JOB")
    String job;

    @Option(names = "--host", paramLabel = "H", description = "only executions of this host")
    String host;

    @Override
    public Integer call() throws Exception {
        QBatch q = parent.open(repo);
        try (Connection c = q.connect()) {
            if (!JberetTables.exist(c)) {
                return 0;
            }
            Map<Long, ResultStore.Run> runs = new HashMap<>();
            for (ResultStore.Run r : q.store().runs(c, job, host)) {
                runs.put(r.executionId(), r);
            }
            System.out.printf("%-10s %-17s %-20s %-10s %-14s %-8s %s%n", "EXECUTION", "JOB", "HOST", "STATUS", "EXIT",
                    "IMAGES", "STARTED");
            for (JberetTables.Execution e : JberetTables.executions(c)) {
                ResultStore.Run r = runs.get(e.id());
                if ((job != null && !job.equals(e.job())) || (host != null && r == null)) {
                    continue;
                }
                System.out.printf("%-10d %-17s %-20s %-10s %-14s %-8s %s%n", e.id(), e.job(),
                        r == null ? "-" : r.host(), e.status(), e.exitStatus() == null ? "-" : e.exitStatus(),
                        r == null ? "-" : Integer.toString(r.planned()),
                        e.started() == null ? "-" : e.started().toInstant().toString());
            }
        }
        return 0;
    }
}
