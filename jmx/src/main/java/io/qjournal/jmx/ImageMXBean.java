package io.qjournal.jmx;

import java.io.IOException;

/**
 * {@code qjournal:type=Image,name=NAME}: one open image. The attribute names are a contract
 * with operators' scripts (jmxterm, monitoring); never rename them.
 */
public interface ImageMXBean {
    String getPath();

    long getVirtualSize();

    boolean isReadOnly();

    boolean isJournalEnabled();

    boolean isDirty();

    long getCommitIntervalMillis();

    /** @throws IllegalArgumentException for a value below 1 */
    void setCommitIntervalMillis(long millis);

    long getCommitDataSize();

    /** @throws IllegalArgumentException for a negative value */
    void setCommitDataSize(long bytes);

    long getJournalSize();

    long getJournalFill();

    long getCommittedSequence();

    long getSyncedSequence();

    int getPendingTransactions();

    boolean isReplayedAtOpen();

    String getHealth();

    long getBytesRead();

    long getBytesWritten();

    long getFlushes();

    long getSyncs();

    int getClients();

    void commit() throws IOException;

    void forceSync() throws IOException;

    void close() throws IOException;
}
