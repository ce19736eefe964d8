package io.qjournal.cli.batch;

import io.qjournal.batch.JberetTables;
import io.qjournal.batch.QBatch;
import io.qjournal.batch.ResultStore;
import java.sql.Connection;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** `batch abandon ID`: an execution that will never be restarted (a crashed one included). */
@Command(name = "abandon", description = "Abandon a stopped, failed or crashed execution (it cannot be restarted).",
        mixinStandardHelpOptions = true, version = "qjournal batch")
public final class AbandonCommand implements Callable<Integer> {
    @ParentCommand
    BatchCommand parent;

    @Mixin
    BatchCommand.Repo repo;

    @Parameters(index = "0", paramLabel = "ID")
    long id;

    @Override
    public Integer call() throws Exception {
        QBatch q = parent.open(repo);
        try (Connection c = q.connect()) {
            String status = JberetTables.requireStatus(c, id);
            ResultStore.Run run = q.store().run(c, id);
            if (QBatch.running(jakarta.batch.runtime.BatchStatus.valueOf(status))) {
                Owner.requireLocal(q, run, id, "abandon");
                if (Owner.alive(q, run)) {
                    throw new IllegalArgumentException("execution " + id + " is still running (pid " + run.pid()
                            + "); stop it first");
                }
                // JBeret refuses to abandon what its table calls running: the process is gone.
                JberetTables.setStatus(c, id, status, "STOPPED");
            }
        }
        Errors.batch(() -> q.operator().abandon(id));
        System.out.println("execution " + id + ": abandoned");
        return 0;
    }
}
