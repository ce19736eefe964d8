package io.qjournal.batch;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * An image's "in progress" row for `batch status`, written only once the image has taken
 * longer than {@link #SHOW_AFTER_MS}. Most images of a sweep take a few milliseconds, and a
 * repository commit to announce each one cost as much as checking it; an image that keeps a
 * thread busy long enough to be watched still shows up, with its byte counts.
 */
final class InProgress {
    static final long SHOW_AFTER_MS = 300;

    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "qjournal-batch-progress");
        t.setDaemon(true);
        return t;
    });

    private final QBatch q;
    private final long execution;
    private final String image;
    private final ScheduledFuture<?> timer;
    private boolean shown;
    private boolean finished;

    InProgress(QBatch q, long execution, String image) {
        this.q = q;
        this.execution = execution;
        this.image = image;
        this.timer = TIMER.schedule(this::show, SHOW_AFTER_MS, TimeUnit.MILLISECONDS);
    }

    // Holding the lock across the insert keeps finish() from missing a row being written.
    private synchronized void show() {
        if (finished) {
            return;
        }
        try (Connection c = q.connect()) {
            q.store().begin(c, execution, image);
            shown = true;
        } catch (SQLException e) {
            // The row is for watching; the work goes on without it.
        }
    }

    /** Ends the wait; true when the row was written, so the finishing transaction deletes it. */
    synchronized boolean finish() {
        finished = true;
        timer.cancel(false);
        return shown;
    }
}
