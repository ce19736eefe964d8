package io.qjournal.cli.batch;

import io.qjournal.batch.Finding;
import io.qjournal.batch.ImageRecord;
import io.qjournal.batch.JberetTables;
import io.qjournal.batch.QBatch;
import io.qjournal.batch.ResultStore;
import java.sql.Connection;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * `batch status [ID]` (default: this host's latest execution): state, steps with their
 * partitions, images done of planned, bytes scanned and won. Reads the repository only, so it
 * is cheap to run in a loop while a job runs elsewhere.
 */
@Command(name = "status", description = "Show an execution's state and progress (default: the latest on this host).",
        mixinStandardHelpOptions = true, version = "qjournal batch")
public final class StatusCommand implements Callable<Integer> {
    @ParentCommand
    BatchCommand parent;

    @Mixin
    BatchCommand.Repo repo;

    @Parameters(index = "0", arity = "0..1", paramLabel = "ID")
    Long id;

    @Override
    public Integer call() throws Exception {
        QBatch q = parent.open(repo);
        try (Connection c = q.connect()) {
            if (!JberetTables.exist(c)) {
                System.out.println("no executions yet");
                return 0;
            }
            if (id == null) {
                List<ResultStore.Run> mine = q.store().runs(c, null, q.settings().host());
                if (mine.isEmpty()) {
                    System.out.println("no executions on host " + q.settings().host());
                    return 0;
                }
                id = mine.get(mine.size() - 1).executionId();
            }
            JberetTables.Execution e = JberetTables.execution(c, id);
            if (e == null) {
                throw new IllegalArgumentException("no execution " + id + " in the job repository");
            }
            ResultStore.Run run = q.store().run(c, id);
            StringBuilder sb = new StringBuilder();
            sb.append("execution ").append(e.id()).append(": ").append(e.job()).append(", instance ").append(e.instanceId());
            if (run != null) {
                sb.append(", host ").append(run.host()).append(" (pid ").append(run.pid()).append(')');
            }
            sb.append('\n');
            String status = e.status();
            if (QBatch.running(jakarta.batch.runtime.BatchStatus.valueOf(status)) && run != null
                    && run.host().equals(q.settings().host()) && !Owner.alive(q, run)) {
                status += " (its process is gone: restart or abandon it)";
            }
            sb.append("  status:   ").append(status);
            if (e.exitStatus() != null && !e.exitStatus().equals(e.status())) {
                sb.append(", exit status ").append(e.exitStatus());
            }
            sb.append('\n');
            sb.append("  started:  ").append(e.started() == null ? "-" : e.started().toInstant()).append('\n');
            sb.append("  ended:    ").append(e.ended() == null ? "-" : e.ended().toInstant()).append('\n');
            for (String[] s : JberetTables.steps(c, id)) {
                sb.append("  step ").append(s[0]).append(": ").append(s[1]).append(", partitions ").append(s[4])
                        .append(" completed of ").append(s[3]).append(" started\n");
            }
            List<ResultStore.StoredImage> images = q.store().images(c, e.instanceId());
            long mineCount = images.stream().filter(i -> i.executionId() == e.id()).count();
            long scanned = 0;
            long won = 0;
            Map<Finding, Integer> counts = new EnumMap<>(Finding.class);
            for (ResultStore.StoredImage i : images) {
                ImageRecord r = i.record();
                scanned += r.bytesScanned();
                won += r.bytesWon();
                counts.merge(r.result(), 1, Integer::sum);
            }
            sb.append("  images:   ").append(images.size()).append(" done of ").append(run == null ? "?" : run.planned())
                    .append(" (").append(mineCount).append(" by this execution");
            if (run != null && run.todo() != null) {
                sb.append(", which had ").append(run.todo()).append(" to do");
            }
            sb.append(")\n");
            sb.append("  bytes:    ").append(scanned).append(" scanned, ").append(won).append(" won\n");
            if (!counts.isEmpty()) {
                sb.append("  results: ");
                counts.forEach((f, n) -> sb.append(' ').append(f.label()).append(' ').append(n));
                sb.append('\n');
            }
            List<ResultStore.Active> active = q.store().active(c, e.id());
            if (!active.isEmpty()) {
                sb.append(QBatch.running(jakarta.batch.runtime.BatchStatus.valueOf(e.status())) ? "  in progress:\n"
                        : "  unfinished when it ended:\n");
                for (ResultStore.Active a : active) {
                    sb.append("    ").append(a.image()).append(" since ").append(a.started().toInstant());
                    if (a.bytesScanned() != 0 || a.bytesWon() != 0) {
                        sb.append(", ").append(a.bytesScanned()).append(" bytes scanned, ").append(a.bytesWon())
                                .append(" won");
                    }
                    sb.append('\n');
                }
            }
            if (run != null) {
                sb.append("  reports:  ").append(run.reportsDir()).append('\n');
            }
            System.out.print(sb);
        }
        return 0;
    }
}
