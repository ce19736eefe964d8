package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Guest data writes that run after the image's write lock is released (the data of clusters
 * taken from past the end of the file): those a write under the lock left for later, those
 * running outside it, and the first failure among them. Metadata that could point at such
 * data must wait for {@link #awaitAll} first.
 */
public final class DeferredDataWrites {
    /** Left for after the lock by the current guest write; used only under the write lock. */
    private final List<DeferredWrite> queued = new ArrayList<>();
    private int inFlight;
    private IOException failure;

    /** A guest data write decided under the image's write lock, done after its release. */
    public record DeferredWrite(long host, WriteSource src, int from, int len) {
        public void run(Storage file) throws IOException {
            src.writeTo(file, host, from, len);
        }
    }

    void queue(DeferredWrite w) {
        queued.add(w);
    }

    /** The writes left for after the lock (and forgets them); under the write lock. */
    public List<DeferredWrite> takeQueued() {
        if (queued.isEmpty()) {
            return List.of();
        }
        List<DeferredWrite> out = List.copyOf(queued);
        queued.clear();
        return out;
    }

    /** Under the image's write lock: writes are about to run outside it. */
    public synchronized void begin() {
        inFlight++;
    }

    /** Runs the writes begun by {@link #begin}; returns their failure, or null. */
    public IOException run(List<DeferredWrite> writes, Storage storage, String file) {
        IOException failed = null;
        try {
            for (DeferredWrite w : writes) {
                w.run(storage);
            }
        } catch (IOException e) {
            failed = e;
        } catch (RuntimeException e) {
            failed = new IOException(file + ": " + e, e);
        } finally {
            synchronized (this) {
                if (failed != null && failure == null) {
                    failure = failed;
                }
                inFlight--;
                notifyAll();
            }
        }
        return failed;
    }

    /**
     * Waits until no write is in flight, through interrupts (returning early would let an L2
     * entry overtake its data); returns the first failure seen so far, or null.
     */
    public IOException awaitAll() {
        boolean interrupted = false;
        try {
            synchronized (this) {
                while (inFlight > 0) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
                return failure;
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
