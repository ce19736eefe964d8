package io.qjournal.cli.batch;

import io.qjournal.batch.Finding;
import io.qjournal.batch.ImageRecord;
import io.qjournal.batch.JberetTables;
import io.qjournal.batch.QBatch;
import io.qjournal.batch.Reports;
import io.qjournal.batch.ResultStore;
import jakarta.batch.runtime.BatchStatus;
import jakarta.batch.runtime.JobExecution;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Waits in the foreground for an execution this process runs (JBeret's threads are daemon
 * threads: leaving main would kill the job), printing a progress line per finished image and
 * passing on a stop that another process wrote into the repository.
 */
final class Waiter {
    static final int EXIT_STOPPED = 6;

    private final QBatch q;
    private final long executionId;
    private final long instanceId;
    private final boolean progress;
    private final Set<String> seen = new HashSet<>();
    private boolean stopForwarded;

    Waiter(QBatch q, long executionId, boolean progress) {
        this.q = q;
        this.executionId = executionId;
        this.instanceId = q.operator().getJobInstance(executionId).getInstanceId();
        this.progress = progress;
        try (Connection c = q.connect()) {
            // Images finished by earlier executions of the instance are not news.
            for (ResultStore.StoredImage s : q.store().images(c, instanceId)) {
                seen.add(s.record().image());
            }
        } catch (SQLException e) {
            throw new IllegalStateException("job repository: " + QBatch.oneLine(e), e);
        }
    }

    int await() throws InterruptedException {
        // SIGTERM (systemctl stop) or Ctrl-C: stop the job as `batch stop` does and wait for the
        // images in progress, so the repository says STOPPED (restartable). Signal handlers,
        // not a shutdown hook: at exit H2 and Weld shut down in hooks of their own.
        // A second signal exits at once (a restart copes with that).
        sun.misc.SignalHandler h = sig -> {
            if (signalled) {
                Runtime.getRuntime().halt(128 + sig.getNumber());
            }
            signalled = true;
            System.err.println("qjournal: stopping execution " + executionId + " (images in progress finish first;"
                    + " signal again to leave at once)");
            try {
                q.operator().stop(executionId);
            } catch (RuntimeException ignored) {
                // It ended meanwhile.
            }
        };
        sun.misc.Signal.handle(new sun.misc.Signal("TERM"), h);
        sun.misc.Signal.handle(new sun.misc.Signal("INT"), h);
        JobExecution e = q.await(executionId, this::tick);
        tick();
        return exitCode(e.getBatchStatus(), worst());
    }

    private volatile boolean signalled;

    private void tick() {
        try (Connection c = q.connect()) {
            if (!stopForwarded && "STOPPING".equals(JberetTables.status(c, executionId))) {
                stopForwarded = true;
                try {
                    q.operator().stop(executionId);
                } catch (RuntimeException ignored) {
                    // It ended between the two looks.
                }
                if (progress) {
                    System.out.println("stop requested: finishing the images in progress");
                    System.out.flush();
                }
            }
            if (!progress) {
                return;
            }
            List<ResultStore.StoredImage> all = q.store().images(c, instanceId);
            ResultStore.Run run = q.store().run(c, executionId);
            int planned = run == null ? 0 : run.planned();
            for (ResultStore.StoredImage s : all) {
                ImageRecord r = s.record();
                if (seen.add(r.image())) {
                    System.out.printf("[%d/%d] %s %s (%d ms)%s%n", seen.size(), planned, r.result().label(), r.image(),
                            r.durationMs(), r.message() == null || r.message().isEmpty() ? "" : ": " + r.message());
                }
            }
            System.out.flush();
        } catch (SQLException ex) {
            // A repository hiccup costs one progress update, not the job.
        }
    }

    private Finding worst() {
        try (Connection c = q.connect()) {
            return Reports.worst(q.store().images(c, instanceId));
        } catch (SQLException e) {
            return Finding.FAILED;
        }
    }

    static int exitCode(BatchStatus status, Finding worst) {
        return switch (status) {
            case COMPLETED -> worst.exitCode();
            case STOPPED, ABANDONED -> EXIT_STOPPED;
            default -> 1;
        };
    }
}
