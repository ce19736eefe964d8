package io.qjournal.qcow2;

import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.util.List;

/**
 * Guest data writes that run after the image's write lock is released (the data of clusters
 * taken from past the end of the file), and the first failure among them. Metadata that could
 * point at such data must wait for {@link #awaitAll} first.
 */
final class DataWritesInFlight {
    private int inFlight;
    private IOException failure;

    /** Under the image's write lock: writes are about to run outside it. */
    synchronized void begin() {
        inFlight++;
    }

    /** Runs the writes begun by {@link #begin}; returns their failure, or null. */
    IOException run(List<DataPath.DeferredWrite> writes, Storage storage, String file) {
        IOException failed = null;
        try {
            for (DataPath.DeferredWrite w : writes) {
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
    IOException awaitAll() {
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
