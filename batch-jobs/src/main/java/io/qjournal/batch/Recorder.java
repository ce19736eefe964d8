package io.qjournal.batch;

import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * Records an execution's finished images on one thread, as many per transaction as have
 * finished since the last commit (a group commit). A repository commit cost as much as a small
 * image's check; the partitions now hand their results over and go on to the next image.
 *
 * <p>What a crash can lose is unchanged in kind: an image whose work was done but whose record
 * was not yet committed runs again after a restart (docs/batch.md, restart semantics); the
 * window is one commit long. A partition ends only once its records are committed
 * ({@link #flush}), so the job's end listener sees every record.
 *
 * <p>A group waits up to {@link #LINGER_MS} for more records after its first (or until
 * {@link #MAX_GROUP} have come, or a partition waits in {@link #flush}): images of a few
 * milliseconds each otherwise made a commit each, and the commits were a fifth of a small
 * sweep's CPU beside the checks themselves.
 */
final class Recorder {
    private static final Map<Long, Recorder> BY_EXECUTION = new ConcurrentHashMap<>();

    record Finished(long instanceId, long executionId, String job, ImageRecord record, boolean clearInProgress) {
    }

    static final long LINGER_MS = 20;
    static final int MAX_GROUP = 256;

    private final QBatch q;
    private final LinkedBlockingQueue<Finished> queue = new LinkedBlockingQueue<>();
    /** Partitions waiting in {@link #flush}; changed under this object's lock. */
    private volatile int flushing;
    private final Thread thread;
    private long submitted;
    private long recorded;
    private Exception failure;

    private Recorder(QBatch q, long executionId) {
        this.q = q;
        this.thread = new Thread(this::run, "qjournal-batch-recorder-" + executionId);
        thread.setDaemon(true);
    }

    /** The execution's recorder, started on first use. */
    static Recorder of(QBatch q, long executionId) {
        return BY_EXECUTION.computeIfAbsent(executionId, id -> {
            Recorder r = new Recorder(q, id);
            r.thread.start();
            return r;
        });
    }

    /** Waits for every record, then stops the execution's recorder. */
    static void close(long executionId) throws Exception {
        Recorder r = BY_EXECUTION.remove(executionId);
        if (r != null) {
            try {
                r.flush();
            } finally {
                r.thread.interrupt();
            }
        }
    }

    synchronized void submit(Finished f) throws Exception {
        if (failure != null) {
            throw failure;
        }
        submitted++;
        queue.add(f);
    }

    /** Returns once everything submitted before the call is committed; rethrows a failure to record. */
    synchronized void flush() throws Exception {
        long target = submitted;
        flushing++;
        try {
            while (recorded < target && failure == null) {
                wait();
            }
        } finally {
            flushing--;
        }
        if (failure != null) {
            throw failure;
        }
    }

    private void run() {
        List<Finished> batch = new ArrayList<>();
        try (Connection c = q.connect()) {
            while (true) {
                batch.clear();
                batch.add(queue.take());
                long until = System.nanoTime() + LINGER_MS * 1_000_000;
                while (batch.size() < MAX_GROUP && flushing == 0) {
                    long left = until - System.nanoTime();
                    if (left <= 0) {
                        break;
                    }
                    // Short polls: a partition that starts waiting in flush() ends the linger.
                    Finished next = queue.poll(Math.min(left, 2_000_000), java.util.concurrent.TimeUnit.NANOSECONDS);
                    if (next != null) {
                        batch.add(next);
                    }
                }
                queue.drainTo(batch);
                boolean[] inserted = q.store().finishAll(c, batch);
                // One execution's records all go to its instance's report.
                List<ImageRecord> lines = new ArrayList<>();
                for (int i = 0; i < batch.size(); i++) {
                    if (inserted[i]) {
                        lines.add(batch.get(i).record());
                    }
                }
                Finished first = batch.get(0);
                Reports.append(q.settings(), first.job(), first.instanceId(), lines);
                synchronized (this) {
                    recorded += batch.size();
                    notifyAll();
                }
            }
        } catch (InterruptedException e) {
            // Closed: every record was flushed first.
        } catch (SQLException | IOException | RuntimeException e) {
            synchronized (this) {
                failure = e;
                notifyAll();
            }
        }
    }
}
