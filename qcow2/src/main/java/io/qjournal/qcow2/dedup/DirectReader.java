package io.qjournal.qcow2.dedup;

import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;

/**
 * The dedup scan's reads with O_DIRECT: the data moves from the device into the hashing
 * thread's buffer without a copy through the page cache (a copy that costs about as much CPU
 * as hashing the bytes), and a nightly scan of a storage host's images does
 * not push the running guests' data out of the page cache (qemu-img's cache=none, for the
 * same reason). Used only on the image file itself (a dry run over a dirty journal reads the
 * replayed view instead) and only for page-aligned reads; any read the kernel refuses returns
 * false and the caller reads through the page cache. A direct read sees dirty cached bytes
 * too: the kernel writes the range back before it.
 */
final class DirectReader implements AutoCloseable {
    /**
     * One read of the scan's reader thread: each direct read waits for the device, so it asks
     * for as much as the device takes in one request here (max_sectors_kb 4096 on virtio).
     */
    static final int CHUNK_BYTES = 4 << 20;
    private static final int ALIGN = 4096;

    private final FileChannel channel;
    private volatile boolean broken;

    private DirectReader(FileChannel channel) {
        this.channel = channel;
    }

    /** A reader over the image file, or null where direct I/O does not apply. */
    static DirectReader open(Storage storage, int clusterSize) {
        if (!(storage instanceof FileStorage fs) || clusterSize < ALIGN) {
            return null;
        }
        try {
            return new DirectReader(FileChannel.open(fs.path(), StandardOpenOption.READ,
                    com.sun.nio.file.ExtendedOpenOption.DIRECT));
        } catch (IOException | UnsupportedOperationException e) {
            // tmpfs and some others refuse O_DIRECT: buffered reads it is.
            return null;
        }
    }

    /** Fills {@code dst} from {@code offset}; false (nothing promised about dst) when refused. */
    boolean read(long offset, ByteBuffer dst) {
        if (broken || (offset % ALIGN) != 0 || (dst.remaining() % ALIGN) != 0) {
            return false;
        }
        try {
            while (dst.hasRemaining()) {
                int k = channel.read(dst, offset);
                if (k <= 0) {
                    // End of file inside a cluster: the buffered path zero-fills it.
                    return false;
                }
                offset += k;
            }
            return true;
        } catch (IOException | RuntimeException e) {
            broken = true;
            return false;
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // Read-only: nothing to lose.
        }
    }
}
