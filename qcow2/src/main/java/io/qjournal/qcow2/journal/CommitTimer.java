package io.qjournal.qcow2.journal;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The journal's commit interval: a daemon thread that calls back once per interval, so an
 * image nobody flushes still commits (the RFC's commit-interval). Daemon, because a forgotten
 * image must not keep a JVM alive.
 */
final class CommitTimer {
    private final String threadName;
    private ScheduledExecutorService timer;

    CommitTimer(String threadName) {
        this.threadName = threadName;
    }

    /** Replaces any running timer; a zero interval leaves none. */
    void start(Duration interval, Runnable tick) {
        stop();
        if (interval.isZero()) {
            return;
        }
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, threadName);
            t.setDaemon(true);
            return t;
        });
        long period = Math.max(1, interval.toMillis());
        timer.scheduleWithFixedDelay(tick, period, period, TimeUnit.MILLISECONDS);
    }

    void stop() {
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
    }
}
