package io.qjournal.qcow2;

import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * An open qcow2 image: the engine's facade. Safe for concurrent use from many threads.
 * API contract (implementation in progress).
 */
public final class Qcow2Image implements BlockDevice {

    /** Opens a qcow2 file; the backing chain is opened relative to the file's directory. */
    public static Qcow2Image open(Path path, OpenOptions options) throws IOException {
        throw new UnsupportedOperationException();
    }

    /** Opens an image over any storage (tests: memory, fault-injecting, power-loss). */
    public static Qcow2Image open(Storage storage, OpenOptions options, BlockDevice backing) throws IOException {
        throw new UnsupportedOperationException();
    }

    /** Creates a new image file (qemu-img create -f qcow2). */
    public static void create(Path path, CreateOptions options) throws IOException {
        throw new UnsupportedOperationException();
    }

    /** Formats an empty storage as a new image. */
    public static void create(Storage storage, CreateOptions options) throws IOException {
        throw new UnsupportedOperationException();
    }

    public Header header() {
        throw new UnsupportedOperationException();
    }

    public int clusterSize() {
        throw new UnsupportedOperationException();
    }

    @Override
    public long size() {
        throw new UnsupportedOperationException();
    }

    @Override
    public String name() {
        throw new UnsupportedOperationException();
    }

    /** The backing device (qcow2 or raw), or null. */
    public BlockDevice backing() {
        throw new UnsupportedOperationException();
    }

    @Override
    public void read(long offset, byte[] buf, int off, int len) throws IOException {
        throw new UnsupportedOperationException();
    }

    public void write(long offset, byte[] buf, int off, int len) throws IOException {
        throw new UnsupportedOperationException();
    }

    /** Makes the range read as zeros; v3 sets the zero flag on whole clusters instead of writing. */
    public void writeZeroes(long offset, long len) throws IOException {
        throw new UnsupportedOperationException();
    }

    /** Frees whole clusters in the range (they read as zeros, or as the backing file). */
    public void discard(long offset, long len) throws IOException {
        throw new UnsupportedOperationException();
    }

    /** Writes one whole cluster compressed (convert -c); the cluster must be unallocated. */
    public void writeCompressed(long offset, byte[] cluster) throws IOException {
        throw new UnsupportedOperationException();
    }

    /** Everything written before the call is durable when it returns. */
    public void flush() throws IOException {
        throw new UnsupportedOperationException();
    }

    /** Grows the virtual size. */
    public void resize(long newSize) throws IOException {
        throw new UnsupportedOperationException();
    }

    /** Status of the range starting at {@code offset}, at most {@code maxLength} bytes long. */
    public BlockStatus blockStatus(long offset, long maxLength) throws IOException {
        throw new UnsupportedOperationException();
    }

    public List<SnapshotInfo> snapshots() {
        throw new UnsupportedOperationException();
    }

    /** Bytes the image file occupies on disk (st_blocks * 512), as qemu-img's actual-size. */
    public long actualSize() throws IOException {
        throw new UnsupportedOperationException();
    }

    @Override
    public void close() throws IOException {
        throw new UnsupportedOperationException();
    }
}
