package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.meta.MetadataWriter;
import java.io.IOException;

/**
 * The metadata write-back as the parts see it: dropping references, writing the caches back
 * between the clusters of one request, the header's updates, and where metadata goes (the
 * journal's life switches it). Every method runs under the image's write lock.
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

    /** Writes a new header (after the data writes in flight) and makes it the image's. */
    void writeHeader(Header h) throws IOException;

    /** Switches where metadata goes: the journal's writer while one lives, else straight home. */
    void use(MetadataWriter w);
}
