package io.qjournal.qcow2.cluster;

import java.io.IOException;

/**
 * What the cluster parts need of the metadata write-back: dropping references, and writing
 * the caches back between the clusters of one request. Every method runs under the image's
 * write lock.
 */
public interface Writeback {
    /** Drops a reference to {@code count} clusters from {@code hostOffset} (freed when safe). */
    void release(long hostOffset, long count) throws IOException;

    /** Commits when the open transaction nears what one journal block can describe. */
    void commitIfTransactionFull() throws IOException;

    /** Writes metadata back when a cache is over its bound or a commit trigger has fired. */
    void writebackIfCacheFull() throws IOException;

    /** Everything cached goes to disk. */
    void flush() throws IOException;
}
