package io.qjournal.cli.batch;

import io.qjournal.batch.JberetTables;
import io.qjournal.batch.QBatch;
import io.qjournal.batch.ResultStore;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * `batch restart ID [--wait]`: runs the images the execution had not finished. An execution
 * whose process died (crash, SIGKILL, reboot) still reads STARTED in the repository; it is
 * restartable once its process is known gone.
 */
@Command(name = "restart", description = "Restart a failed, stopped or crashed execution; finished images are kept.",
        mixinStandardHelpOptions = true, version = "qjournal batch")
public final class RestartCommand implements Callable<Integer> {
    @ParentCommand
    BatchCommand parent;

    @Mixin
    BatchCommand.Repo repo;

    @Parameters(index = "0", paramLabel = "ID")
    long id;

    @Option(names = "--wait", description = "wait for the job to end, printing progress")
    boolean wait;

    @Option(names = "-q", description = "with --wait: no progress lines")
    boolean quiet;

    @Override
    public Integer call() throws Exception {
        QBatch q = parent.open(repo);
        String status;
        try (Connection c = q.connect()) {
            status = JberetTables.requireStatus(c, id);
            if (status.equals("COMPLETED") || status.equals("ABANDONED")) {
                throw new IllegalArgumentException("execution " + id + " is " + status + "; only a failed, stopped or"
                        + " crashed execution can be restarted");
            }
            ResultStore.Run run = q.store().run(c, id);
            Owner.requireLocal(q, run, id, "restart");
            // A STOPPED or FAILED execution is over whatever its process still does (exiting).
            if (QBatch.running(jakarta.batch.runtime.BatchStatus.valueOf(status)) && Owner.alive(q, run)) {
                throw new IllegalArgumentException("execution " + id + " is still running (pid " + run.pid() + ")");
            }
        }
        if (!wait) {
            List<String> args = new ArrayList<>(List.of("restart", Long.toString(id)));
            return Background.run(parent, repo, args, "restart-" + id);
        }
        Properties p = q.operator().getParameters(id);
        Properties params = p == null ? new Properties() : (Properties) p.clone();
        // "detect": JBeret treats a STARTED execution not running in this JVM as crashed.
        params.setProperty("jberet.restart.mode", "detect");
        long newId = Errors.call(() -> q.operator().restart(id, params));
        System.out.println("execution " + newId);
        System.out.flush();
        return new Waiter(q, newId, !quiet).await();
    }
}
