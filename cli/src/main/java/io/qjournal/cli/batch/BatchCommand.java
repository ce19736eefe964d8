package io.qjournal.cli.batch;

import io.qjournal.batch.BatchSettings;
import io.qjournal.batch.QBatch;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * `qjournal batch`: runs and inspects the Jakarta Batch jobs of io.qjournal.batch. The batch
 * runtime (Weld, JBeret) starts only inside these commands.
 */
@Command(name = "batch", description = "Run and inspect batch jobs (integrity-sweep, journal-replay, dedup-compaction).",
        mixinStandardHelpOptions = true, version = "qjournal batch",
        subcommands = {StartCommand.class, StatusCommand.class, ListCommand.class, RestartCommand.class,
            StopCommand.class, AbandonCommand.class, ReportCommand.class},
        footer = {"", "Exit status of start/restart --wait: 0 clean, 3 leaks, 4 dirty journal, 2 corrupt, 5 some images"
            + " in use, 1 failed, 6 stopped or abandoned. See docs/batch.md."})
public final class BatchCommand implements Runnable {
    @Option(names = "--repository", paramLabel = "JDBC_URL",
            description = "job repository (default: H2 file in the state directory)")
    String repository;

    @Option(names = "--state-dir", paramLabel = "DIR",
            description = "state directory: default repository and reports (default /var/lib/qjournal/batch)")
    Path stateDir;

    @Option(names = "--config", paramLabel = "FILE",
            description = "configuration file (default /etc/qjournal/batch.conf)")
    Path config;

    @Override
    public void run() {
        throw new IllegalArgumentException("batch: missing command (start, status, list, restart, stop, abandon,"
                + " report; try 'qjournal batch --help')");
    }

    /** The repository options, given before the subcommand (here) or after it (in {@link Repo}). */
    BatchSettings settings(Repo sub) {
        return BatchSettings.resolve(sub.config != null ? sub.config : config,
                sub.stateDir != null ? sub.stateDir : stateDir,
                sub.repository != null ? sub.repository : repository, null);
    }

    QBatch open(Repo sub) {
        return QBatch.open(settings(sub));
    }

    /** The same options on every subcommand, so they may follow it. */
    public static final class Repo {
        @Option(names = "--repository", paramLabel = "JDBC_URL", description = "job repository JDBC URL")
        String repository;

        @Option(names = "--state-dir", paramLabel = "DIR", description = "state directory")
        Path stateDir;

        @Option(names = "--config", paramLabel = "FILE", description = "configuration file")
        Path config;
    }
}
