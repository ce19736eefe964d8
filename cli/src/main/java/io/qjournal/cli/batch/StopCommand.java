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

/**
 * `batch stop ID`: asks the running execution to stop. The request goes through the
 * repository (STARTED -> STOPPING); the process running the job passes it to JBeret, which
 * lets the images in progress finish. An execution whose process is gone is marked STOPPED.
 */
@Command(name = "stop", description = "Stop a running execution (images in progress finish first).",
        mixinStandardHelpOptions = true, version = "qjournal batch")
public final class StopCommand implements Callable<Integer> {
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
            if (!status.equals("STARTED") && !status.equals("STARTING") && !status.equals("STOPPING")) {
                throw new IllegalArgumentException("execution " + id + " is not running (" + status + ")");
            }
            ResultStore.Run run = q.store().run(c, id);
            boolean crashed = run != null && run.host().equals(q.settings().host()) && !Owner.alive(q, run);
            if (crashed) {
                JberetTables.setStatus(c, id, status, "STOPPED");
                System.out.println("execution " + id + ": its process is gone; marked STOPPED (restart it with"
                        + " 'qjournal batch restart " + id + "')");
                return 0;
            }
            if (status.equals("STOPPING") || JberetTables.setStatus(c, id, status, "STOPPING")) {
                System.out.println("execution " + id + ": stop requested");
                return 0;
            }
            throw new IllegalArgumentException("execution " + id + " ended meanwhile (" + JberetTables.status(c, id) + ")");
        }
    }
}
