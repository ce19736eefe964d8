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
 * which the mapper of a restart builds a new queue. A {@link MetadataReadahead} reads a few
 * images ahead of the partitions.
 */
final class ImageQueue {
    private static final Map<Long, Entry> BY_EXECUTION = new ConcurrentHashMap<>();

    private record Entry(Queue<String> images, Progress progress) {
    }

    /** How far the partitions have got, for the readahead to keep its distance. */
    static final class Progress {
        private int taken;
        private boolean dropped;

        synchronized int taken() {
            return taken;
        }

        synchronized boolean dropped() {
            return dropped;
        }

        /** Waits until {@code n} images are taken; false once the execution is dropped. */
        synchronized boolean awaitTakenAtLeast(int n) throws InterruptedException {
            while (taken < n && !dropped) {
                wait();
            }
            return !dropped;
        }

        private synchronized void took() {
            taken++;
            notifyAll();
        }

        private synchronized void drop() {
            dropped = true;
            notifyAll();
        }
    }

    private ImageQueue() {
    }

    static void publish(long executionId, List<String> images) {
        Progress progress = new Progress();
        BY_EXECUTION.put(executionId, new Entry(new ConcurrentLinkedQueue<>(images), progress));
        MetadataReadahead.start(executionId, List.copyOf(images), progress);
    }

    /** The next image of the execution, or null when none is left. */
    static String next(long executionId) {
        Entry e = BY_EXECUTION.get(executionId);
        if (e == null) {
            return null;
        }
        String image = e.images().poll();
        if (image != null) {
            e.progress().took();
        }
        return image;
    }

    static void drop(long executionId) {
        Entry e = BY_EXECUTION.remove(executionId);
        if (e != null) {
            e.progress().drop();
        }
    }
}
