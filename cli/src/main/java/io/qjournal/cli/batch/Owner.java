package io.qjournal.cli.batch;

import io.qjournal.batch.QBatch;
import io.qjournal.batch.ResultStore;

/** Which process runs an execution: only this host can tell whether it is still alive. */
final class Owner {
    private Owner() {
    }

    static void requireLocal(QBatch q, ResultStore.Run run, long id, String what) {
        if (run != null && !run.host().equals(q.settings().host())) {
            throw new IllegalArgumentException("execution " + id + " ran on host " + run.host() + "; " + what
                    + " it there (its images are on that host)");
        }
    }

    /** True when the recorded process still runs on this host (a recycled pid errs on the safe side). */
    static boolean alive(QBatch q, ResultStore.Run run) {
        if (run == null || !run.host().equals(q.settings().host())) {
            return false;
        }
        return run.pid() != ProcessHandle.current().pid()
                && ProcessHandle.of(run.pid()).map(ProcessHandle::isAlive).orElse(false);
    }
}
