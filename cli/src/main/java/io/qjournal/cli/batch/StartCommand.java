package io.qjournal.cli.batch;

import io.qjournal.batch.JobParams;
import io.qjournal.batch.QBatch;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** `batch start JOB -p key=value... [--wait]`: prints `execution N` first. */
@Command(name = "start", description = "Start a job: integrity-sweep, journal-replay or dedup-compaction.",
        mixinStandardHelpOptions = true, version = "qjournal batch")
public final class StartCommand implements Callable<Integer> {
    @ParentCommand
    BatchCommand parent;

    @Mixin
    BatchCommand.Repo repo;

    @Parameters(index = "0", paramLabel = "JOB")
    String job;

    @Option(names = "-p", paramLabel = "KEY=VALUE", description = "job parameter: dirs, pattern, threads, repair,"
            + " replay, dry-run")
    Map<String, String> params = new LinkedHashMap<>();

    @Option(names = "--wait", description = "wait for the job to end, printing progress; exit status follows the outcome")
    boolean wait;

    @Option(names = "-q", description = "with --wait: no progress lines")
    boolean quiet;

    @Override
    public Integer call() throws Exception {
        // Parameters are checked before the repository or the batch runtime is touched.
        JobParams.parse(job, params);
        if (!wait) {
            return Background.launch(parent, repo, job, params);
        }
        QBatch q = parent.open(repo);
        Properties p = new Properties();
        params.forEach(p::setProperty);
        long id = Errors.call(() -> q.operator().start(job, p));
        System.out.println("execution " + id);
        System.out.flush();
        return new Waiter(q, id, !quiet).await();
    }
}
