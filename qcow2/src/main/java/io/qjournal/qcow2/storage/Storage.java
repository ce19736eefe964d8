package io.qjournal.qcow2.storage;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The narrow byte store under the engine.
 *
 * <p>Ordering contract: a {@link #write} may reach stable media in any order relative to
 * other writes issued since the last {@link #flush}; only {@code flush()} orders. When
 * {@code flush()} returns, every write that returned before it was called is durable.
 * Code that needs "A durable before B" must therefore call {@code flush()} between them.
 * Implementations must be safe for concurrent calls from many threads.
 */
public interface Storage extends Closeable {

    /**
     * Reads {@code dst.remaining()} bytes at {@code offset}. Bytes past the end of the store
     * read as zeros (as a hole in a sparse file does).
     */
    void read(long offset, ByteBuffer dst) throws IOException;

    /** Writes all of {@code src} at {@code offset}, growing the store if needed. */
    void write(long offset, ByteBuffer src) throws IOException;

    /** Makes every write that returned before this call durable (fdatasync). */
    void flush() throws IOException;

    long size() throws IOException;

    /** Sets the size: shrinking drops bytes, growing adds zeros. */
    void truncate(long size) throws IOException;

    /** A name for error messages: the file's path for a file. */
    String name();

    boolean isReadOnly();

    /** Flushes issued so far, or -1 when the store does not count them. */
    default long flushCount() {
        return -1;
    }

    default void read(long offset, byte[] dst, int off, int len) throws IOException {
        read(offset, ByteBuffer.wrap(dst, off, len));
    }

    default void write(long offset, byte[] src, int off, int len) throws IOException {
        write(offset, ByteBuffer.wrap(src, off, len));
    }
}
