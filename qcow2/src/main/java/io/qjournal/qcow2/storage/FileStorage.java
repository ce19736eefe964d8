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
    /**
     * Writes (and truncations) completed through this storage, counted from 1 so that the first
     * flush always syncs: what others wrote before this storage opened the file may not be
     * durable yet.
     */
    private final java.util.concurrent.atomic.AtomicLong changes = new java.util.concurrent.atomic.AtomicLong(1);
    /** The change count a completed fdatasync covered. */
    private final java.util.concurrent.atomic.AtomicLong durable = new java.util.concurrent.atomic.AtomicLong();
    /**
     * The file's size as our own writes leave it (writable storage only; the image lock keeps
     * other writers out). Asking the kernel instead costs more than the fstat: since Linux 6.13
     * a stat makes the next write stamp a fine-grained mtime, so every fdatasync on ext4 then
     * writes the inode too.
     */
    private final java.util.concurrent.atomic.AtomicLong size = new java.util.concurrent.atomic.AtomicLong(-1);

    private FileStorage(Path path, FileChannel channel, boolean readOnly) throws IOException {
        this.path = path;
        this.channel = channel;
        this.readOnly = readOnly;
        if (!readOnly) {
            size.set(channel.size());
        }
    }

    /** Opens an existing file. */
    public static FileStorage open(Path path, boolean writable) throws IOException {
        Set<StandardOpenOption> opts = writable
                ? EnumSet.of(StandardOpenOption.READ, StandardOpenOption.WRITE)
                : EnumSet.of(StandardOpenOption.READ);
        return wrap(path, openChannel(path, opts), !writable);
    }

    private static FileStorage wrap(Path path, FileChannel channel, boolean readOnly) throws IOException {
        try {
            return new FileStorage(path, channel, readOnly);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** Creates (or truncates to empty) a file for writing. */
    public static FileStorage create(Path path) throws IOException {
        Set<StandardOpenOption> opts = EnumSet.of(StandardOpenOption.READ, StandardOpenOption.WRITE,
                StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING);
        return wrap(path, openChannel(path, opts), false);
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
        long end = offset + src.remaining();
        try {
            writeAll(offset, src);
        } catch (IOException | RuntimeException e) {
            // A partial write may have grown the file: ask the kernel once.
            size.accumulateAndGet(channel.size(), Math::max);
            throw e;
        } finally {
            changes.incrementAndGet();
        }
        size.accumulateAndGet(end, Math::max);
    }

    private void writeAll(long offset, ByteBuffer src) throws IOException {
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
        if (readOnly) {
            return;
        }
        // Nothing changed since a completed fdatasync: that one made it all durable (a guest
        // flush right after another, a commit with nothing to write). A flush still in
        // progress elsewhere has not completed, so it does not count.
        long target = changes.get();
        if (durable.get() >= target) {
            return;
        }
        channel.force(false);
        flushes.incrementAndGet();
        durable.accumulateAndGet(target, Math::max);
    }

    @Override
    public long flushCount() {
        return flushes.get();
    }

    @Override
    public long size() throws IOException {
        return readOnly ? channel.size() : size.get();
    }

    @Override
    public void truncate(long newSize) throws IOException {
        long cur = channel.size();
        try {
            if (newSize < cur) {
                channel.truncate(newSize);
            } else if (newSize > cur) {
                // FileChannel.truncate cannot grow; a one-byte write at the end leaves a hole.
                channel.write(ByteBuffer.wrap(new byte[1]), newSize - 1);
            }
        } finally {
            changes.incrementAndGet();
            size.set(channel.size());
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
