package io.qjournal.qcow2.storage;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * QEMU's image locking (block/file-posix.c, raw_apply_lock_bytes): a process holds a shared
 * byte lock at 100+bit for each permission it uses and at 200+bit for each permission it does
 * not share. Before opening, it tests for holders of 200+bit for each permission it needs and
 * of 100+bit for each permission it refuses to share. Java's POSIX record locks conflict with
 * QEMU's OFD locks, so this interoperates both ways.
 */
final class ImageLock {
    static final int PERM_BASE = 100;
    static final int SHARED_BASE = 200;
    static final int CONSISTENT_READ = 0;
    static final int WRITE = 1;
    static final int WRITE_UNCHANGED = 2;
    static final int RESIZE = 3;

    /** One JVM may not lock the same file twice (Java throws), so track our own holders. */
    private static final Set<Object> HELD = ConcurrentHashMap.newKeySet();

    private final List<FileLock> locks;
    private final Object key;

    private ImageLock(List<FileLock> locks, Object key) {
        this.locks = locks;
        this.key = key;
    }

    static ImageLock acquire(Path path, FileChannel channel, boolean write, boolean readOnlyChannel)
            throws IOException {
        Object key = path.toAbsolutePath().normalize();
        if (!HELD.add(key)) {
            throw new ImageInUseException(path + ": Failed to get \"write\" lock: the image is already"
                    + " open in this process");
        }
        try {
            if (readOnlyChannel) {
                // A read-only channel can neither test nor take locks with Java's API;
                // QEMU's readers without write access skip the lock bytes likewise.
                return new ImageLock(List.of(), key);
            }
            int[] used = write
                    ? new int[] {CONSISTENT_READ, WRITE, WRITE_UNCHANGED, RESIZE}
                    : new int[] {CONSISTENT_READ};
            int[] unshared = write ? new int[] {WRITE, RESIZE} : new int[] {WRITE, RESIZE};
            for (int bit : used) {
                probe(path, channel, SHARED_BASE + bit, bit);
            }
            for (int bit : unshared) {
                probe(path, channel, PERM_BASE + bit, bit);
            }
            List<FileLock> held = new ArrayList<>();
            for (int bit : used) {
                held.add(channel.lock(PERM_BASE + bit, 1, true));
            }
            for (int bit : unshared) {
                held.add(channel.lock(SHARED_BASE + bit, 1, true));
            }
            return new ImageLock(held, key);
        } catch (IOException | RuntimeException e) {
            HELD.remove(key);
            throw e;
        }
    }

    private static void probe(Path path, FileChannel channel, long pos, int bit) throws IOException {
        FileLock probe;
        try {
            probe = channel.tryLock(pos, 1, false);
        } catch (OverlappingFileLockException e) {
            probe = null;
        }
        if (probe == null) {
            throw new ImageInUseException(path + ": Failed to get \"" + permName(bit)
                    + "\" lock: is another process using the image?");
        }
        probe.release();
    }

    private static String permName(int bit) {
        switch (bit) {
            case CONSISTENT_READ: return "consistent read";
            case WRITE: return "write";
            case WRITE_UNCHANGED: return "write unchanged";
            default: return "resize";
        }
    }

    void release() throws IOException {
        try {
            for (FileLock l : locks) {
                if (l.isValid()) {
                    l.release();
                }
            }
        } finally {
            HELD.remove(key);
        }
    }
}
