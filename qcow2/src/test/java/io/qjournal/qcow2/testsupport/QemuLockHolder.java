package io.qjournal.qcow2.testsupport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A qemu-io process that holds an image open for writing, and a wait for its locks that does not
 * disturb it.
 *
 * <p>Why the wait reads {@code /proc/locks}: probing with {@code qemu-img info} or {@code check}
 * takes QEMU's own shared locks for a moment. If qemu-io opens the image during that moment it
 * cannot take its write lock and exits, and the test then waits for a lock that never comes
 * (a CI run failed so). Reading the kernel's lock table takes no lock.
 */
public final class QemuLockHolder implements AutoCloseable {
    /** QEMU's lock byte for the WRITE permission: 100 + bit 1 (block/file-posix.c, RAW_LOCK_PERM_BASE). */
    static final long WRITE_PERM_BYTE = 101;

    private final Process process;
    private final Path log;

    private QemuLockHolder(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /**
     * Starts {@code qemu-io} on {@code img}, sleeping inside a command so that it cannot quit on an
     * end of input, and returns once it holds its write lock. Its output goes to {@code log}.
     */
    public static QemuLockHolder start(Path img, Path log) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("qemu-io", "-f", "qcow2", "-c", "sleep 600000", img.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        QemuLockHolder holder = new QemuLockHolder(p, log);
        try {
            awaitWriteLock(img, p, log);
        } catch (RuntimeException | Error | IOException | InterruptedException e) {
            holder.close();
            throw e;
        }
        return holder;
    }

    /** Waits until {@code qemu} holds QEMU's write-permission lock on {@code img}, without probing it. */
    public static void awaitWriteLock(Path img, Process qemu, Path log) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!qemu.isAlive()) {
                throw new AssertionError("qemu-io exited with status " + qemu.exitValue() + " before it locked "
                        + img + ": " + (Files.exists(log) ? Files.readString(log).strip() : "(no output)"));
            }
            if (locked(img, WRITE_PERM_BYTE)) {
                return;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("qemu-io did not lock " + img + " within 60 s: "
                + (Files.exists(log) ? Files.readString(log).strip() : "(no output)"));
    }

    /** True when some process holds QEMU's write-permission lock on {@code img} (read from /proc/locks). */
    public static boolean writeLocked(Path img) throws IOException {
        return locked(img, WRITE_PERM_BYTE);
    }

    /** True when {@code /proc/locks} shows a lock on {@code offset} of the file {@code img}. */
    static boolean locked(Path img, long offset) throws IOException {
        String file = deviceAndInode(img);
        for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
            if (covers(line, file, offset)) {
                return true;
            }
        }
        return false;
    }

    /** The file as /proc/locks names it: {@code MAJOR:MINOR:INODE}, the device numbers in hex. */
    static String deviceAndInode(Path img) throws IOException {
        long dev = ((Number) Files.getAttribute(img, "unix:dev")).longValue();
        long ino = ((Number) Files.getAttribute(img, "unix:ino")).longValue();
        // glibc's gnu_dev_major/minor: the user-space st_dev encoding of the kernel's device number.
        long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
        long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
        return String.format("%02x:%02x:%d", major, minor, ino);
    }

    /**
     * One /proc/locks line, e.g. {@code 4: OFDLCK ADVISORY  READ -1 fe:00:1098862 100 101}; a
     * blocked waiter's line starts with {@code ->} and holds nothing.
     */
    static boolean covers(String line, String file, long offset) {
        List<String> f = List.of(line.trim().split("\\s+"));
        if (f.size() < 8 || f.get(1).equals("->")) {
            return false;
        }
        int at = f.indexOf(file);
        if (at < 0 || at + 2 >= f.size()) {
            return false;
        }
        long start = Long.parseLong(f.get(at + 1));
        String end = f.get(at + 2);
        return start <= offset && (end.equals("EOF") || offset <= Long.parseLong(end));
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** What qemu-io printed so far. */
    public String output() throws IOException {
        return Files.exists(log) ? Files.readString(log) : "";
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
        }
    }
}
