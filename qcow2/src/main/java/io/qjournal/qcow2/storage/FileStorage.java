package io.qjournal.qcow2.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.EnumSet;
import java.util.Set;

/** A file on disk, read and written with positional I/O; flush is fdatasync. */
public final class FileStorage implements Storage {
    private final Path path;
    private final FileChannel channel;
    private final boolean readOnly;
    private ImageLock lock;
    private FileChannel lockChannel;
    private final java.util.concurrent.atomic.AtomicLong flushes = new java.util.concurrent.atomic.AtomicLong();

    private FileStorage(Path path, FileChannel channel, boolean readOnly) {
        this.path = path;
        this.channel = channel;
        this.readOnly = readOnly;
    }

    /** Opens an existing file. */
    public static FileStorage open(Path path, boolean writable) throws IOException {
        Set<StandardOpenOption> opts = writable
                ? EnumSet.of(StandardOpenOption.READ, StandardOpenOption.WRITE)
                : EnumSet.of(StandardOpenOption.READ);
        return new FileStorage(path, openChannel(path, opts), !writable);
    }

    /** Creates (or truncates to empty) a file for writing. */
    public static FileStorage create(Path path) throws IOException {
        Set<StandardOpenOption> opts = EnumSet.of(StandardOpenOption.READ, StandardOpenOption.WRITE,
                StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING);
        return new FileStorage(path, openChannel(path, opts), false);
    }

    private static FileChannel openChannel(Path path, Set<StandardOpenOption> opts) throws IOException {
        try {
            return FileChannel.open(path, opts);
        } catch (NoSuchFileException e) {
            throw new IOException(path + ": No such file or directory");
        } catch (AccessDeniedException e) {
            throw new IOException(path + ": Permission denied");
        }
    }

    /**
     * Takes QEMU-compatible image locks (see {@link ImageLock}); fails with a clear message
     * when another process (QEMU or another qjournal) holds a conflicting lock.
     */
    public void lock(boolean write) throws IOException {
        if (lock != null) {
            return;
        }
        if (readOnly) {
            // Java takes and tests record locks only on a writable channel. A reader that may
            // write the file opens one just for the locks (it writes nothing through it), so
            // that it honours a QEMU writer as `qemu-img info` without -U does.
            try {
                lockChannel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
            } catch (IOException e) {
                lock = ImageLock.acquire(path, channel, false, true);
                return;
            }
            try {
                lock = ImageLock.acquire(path, lockChannel, false, false);
            } catch (IOException | RuntimeException e) {
                lockChannel.close();
                lockChannel = null;
                throw e;
            }
            return;
        }
        lock = ImageLock.acquire(path, channel, write, readOnly);
    }

    public FileChannel channel() {
        return channel;
    }

    public Path path() {
        return path;
    }

    /**
     * Heap buffers go through one bounded direct buffer per thread: the JDK would otherwise
     * allocate a temporary direct buffer as large as each request, which with many threads and
     * large requests ends in direct-memory pressure and GC storms.
     */
    private static final int CHUNK = 256 << 10;
    private static final ThreadLocal<ByteBuffer> BOUNCE = ThreadLocal.withInitial(
            // Page-aligned: the kernel copies to and from an aligned buffer much faster.
            () -> ByteBuffer.allocateDirect(CHUNK + 4096).alignedSlice(4096).slice(0, CHUNK));

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        if (!dst.isDirect() && dst.remaining() > CHUNK) {
            ByteBuffer b = BOUNCE.get();
            while (dst.hasRemaining()) {
                b.clear().limit(Math.min(CHUNK, dst.remaining()));
                readDirect(offset, b);
                b.flip();
                offset += b.remaining();
                dst.put(b);
            }
            return;
        }
        readDirect(offset, dst);
    }

    private void readDirect(long offset, ByteBuffer dst) throws IOException {
        while (dst.hasRemaining()) {
            int n = channel.read(dst, offset);
            if (n < 0) {
                while (dst.hasRemaining()) {
                    dst.put((byte) 0);
                }
                return;
            }
            offset += n;
        }
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
        if (readOnly) {
            throw new IOException(path + ": image is open read-only");
        }
        if (!src.isDirect() && src.remaining() > CHUNK) {
            ByteBuffer b = BOUNCE.get();
            while (src.hasRemaining()) {
                b.clear();
                int n = Math.min(CHUNK, src.remaining());
                ByteBuffer part = src.slice();
                part.limit(n);
                b.put(part).flip();
                src.position(src.position() + n);
                while (b.hasRemaining()) {
                    offset += channel.write(b, offset);
                }
            }
            return;
        }
        while (src.hasRemaining()) {
            offset += channel.write(src, offset);
        }
    }

    @Override
    public void flush() throws IOException {
        if (!readOnly) {
            channel.force(false);
            flushes.incrementAndGet();
        }
    }

    @Override
    public long flushCount() {
        return flushes.get();
    }

    @Override
    public long size() throws IOException {
        return channel.size();
    }

    @Override
    public void truncate(long size) throws IOException {
        long cur = channel.size();
        if (size < cur) {
            channel.truncate(size);
        } else if (size > cur) {
            // FileChannel.truncate cannot grow; a one-byte write at the end leaves a hole.
            channel.write(ByteBuffer.wrap(new byte[1]), size - 1);
        }
    }

    @Override
    public String name() {
        return path.toString();
    }

    @Override
    public boolean isReadOnly() {
        return readOnly;
    }

    @Override
    public void close() throws IOException {
        try {
            if (lock != null) {
                lock.release();
            }
        } finally {
            try {
                if (lockChannel != null) {
                    lockChannel.close();
                }
            } finally {
                channel.close();
            }
        }
    }
}
