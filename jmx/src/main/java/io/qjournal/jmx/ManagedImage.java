package io.qjournal.jmx;

import java.io.IOException;

/**
 * What {@code qjournal:type=Image,name=NAME} shows and steers. The daemon implements it over
 * an image it serves; this module only adapts it to JMX, so the engine stays free of
 * javax.management. Getters must be cheap and never block on disk I/O for long.
 */
public interface ManagedImage {
    /** What reads straight off the open engine image; the defaults below read it. */
    EngineImageView engineState();

    String name();

    String path();

    default long virtualSize() {
        return engineState().virtualSize();
    }

    boolean readOnly();

    default boolean journalEnabled() {
        return engineState().journalEnabled();
    }

    /** Committed or pending journal transactions not yet synced to their final places. */
    default boolean dirty() {
        return engineState().dirty();
    }

    default long commitIntervalMillis() {
        return engineState().commitIntervalMillis();
    }

    void setCommitIntervalMillis(long millis);

    default long commitDataSize() {
        return engineState().commitDataSize();
    }

    void setCommitDataSize(long bytes);

    default long journalSize() {
        return engineState().journalSize();
    }

    /** Journal bytes holding transactions not yet synced. */
    default long journalFill() {
        return engineState().journalFill();
    }

    default long committedSequence() {
        return engineState().committedSequence();
    }

    default long syncedSequence() {
        return engineState().syncedSequence();
    }

    default int pendingTransactions() {
        return engineState().pendingTransactions();
    }

    /** True when opening the image replayed a dirty journal (the daemon or host had crashed). */
    boolean replayedAtOpen();

    /** "OK" or "FAILED: reason". */
    String health();

    long bytesRead();

    long bytesWritten();

    /** Guest flushes served. */
    long flushes();

    /** fdatasync/fsync calls issued on the image file. */
    default long syncs() {
        return engineState().syncs();
    }

    /** NBD clients attached now. */
    int clients();

    void commit() throws IOException;

    /** Commit and checkpoint now, so {@link #dirty()} becomes false. */
    void forceSync() throws IOException;

    /** Close the image (clients are disconnected); the bean is unregistered. */
    void close() throws IOException;
}
