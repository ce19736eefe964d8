package io.qjournal.daemon.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * One export as the NBD server sees it. The daemon implements it over an open image; tests
 * may implement it over memory. Methods are called from the server's I/O worker threads, many
 * at once, never from a Netty event loop (they block on disk).
 *
 * <p>Errors: {@link NbdError} carries the errno the client gets (EPERM, EINVAL, ENOSPC, ...);
 * any other {@link IOException} is answered with EIO.
 */
public interface NbdExport {
    /** Export name clients ask for. */
    String name();

    /** Free-text description for NBD_INFO_DESCRIPTION (may be empty). */
    String description();

    /** Size in bytes. */
    long size();

    boolean readOnly();

    /** NBD_INFO_BLOCK_SIZE: minimum, preferred and maximum request sizes (powers of two but maximum). */
    int minimumBlockSize();

    int preferredBlockSize();

    int maximumPayload();

    /** Reads {@code dst.remaining()} bytes at {@code offset}. */
    void read(long offset, ByteBuffer dst) throws IOException;

    /** Writes {@code src.remaining()} bytes; with {@code fua} they are durable on return. */
    void write(long offset, ByteBuffer src, boolean fua) throws IOException;

    /** Everything completed before the call is durable when it returns. */
    void flush() throws IOException;

    /** NBD_CMD_TRIM: the range may be discarded (reads may return zeros or old data). */
    void trim(long offset, long length, boolean fua) throws IOException;

    /** NBD_CMD_WRITE_ZEROES; with {@code noHole} the range must stay allocated. */
    void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException;

    /**
     * base:allocation extents covering at least the start of the range, in order, each at most
     * {@code length} long in total; never empty for a range inside the export.
     */
    List<Extent> blockStatus(long offset, long length) throws IOException;

    /** A client selected this export (counts for JMX's Clients). */
    void clientAttached();

    void clientDetached();

    /** One base:allocation extent: NBD_STATE_HOLE (1) and NBD_STATE_ZERO (2) flags. */
    record Extent(long length, boolean hole, boolean zero) {
        public int flags() {
            return (hole ? 1 : 0) | (zero ? 2 : 0);
        }
    }
}
