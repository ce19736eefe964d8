package io.qjournal.jmx;

import java.io.IOException;

/**
 * What {@code qjournal:type=Image,name=NAME} shows and steers. The daemon implements it over
 * an image it serves; this module only adapts it to JMX, so the engine stays free of
 * javax.management. Getters must be cheap and never block on disk I/O for long.
 */
public interface ManagedImage {
    String name();

    String path();

    long virtualSize();

    boolean readOnly();

    boolean journalEnabled();

    /** Committed or pending journal transactions not yet synced to their final places. */
    boolean dirty();

    long commitIntervalMillis();

    void setCommitIntervalMillis(long millis);

    long commitDataSize();

    void setCommitDataSize(long bytes);

    long journalSize();

    /** Journal bytes holding transactions not yet synced. */
    long journalFill();

    long committedSequence();

    long syncedSequence();

    int pendingTransactions();

    /** True when opening the image replayed a dirty journal (the daemon or host had crashed). */
    boolean replayedAtOpen();

    /** "OK" or "FAILED: reason". */
    String health();

    long bytesRead();

    long bytesWritten();

    /** Guest flushes served. */
    long flushes();

    /** fdatasync/fsync calls issued on the image file. */
    long syncs();

    /** NBD clients attached now. */
    int clients();

    void commit() throws IOException;

    /** Commit and checkpoint now, so {@link #dirty()} becomes false. */
    void forceSync() throws IOException;

    /** Close the image (clients are disconnected); the bean is unregistered. */
    void close() throws IOException;
}
