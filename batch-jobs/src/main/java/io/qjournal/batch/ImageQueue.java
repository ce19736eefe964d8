package io.qjournal.batch;

import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The images an execution still has to do, shared by its partitions: each partition takes the
 * next image when it finishes one, so a large image holds up one thread, not a fixed share of
 * the list. The queue lives in the process that runs the execution (JBeret SE runs partitions
 * as local threads); what survives a crash is the per-image record in the repository, from
 * which the mapper of a restart builds a new queue.
 */
final class ImageQueue {
    private static final Map<Long, Queue<String>> BY_EXECUTION = new ConcurrentHashMap<>();

    private ImageQueue() {
    }

    static void publish(long executionId, List<String> images) {
        BY_EXECUTION.put(executionId, new ConcurrentLinkedQueue<>(images));
    }

    /** The next image of the execution, or null when none is left. */
    static String next(long executionId) {
        Queue<String> q = BY_EXECUTION.get(executionId);
        return q == null ? null : q.poll();
    }

    static void drop(long executionId) {
        BY_EXECUTION.remove(executionId);
    }
}
