package io.qjournal.daemon.nbd;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The NBD Unix socket's file, created with mode 0660 whatever the process's umask: the socket is
 * bound in a fresh directory only the daemon can enter, given its mode there, then renamed into
 * place, so no client ever finds it with wider permissions. Its group is the one new files get
 * (the daemon's group, or the directory's when that is set-group-ID).
 */
final class UnixSocketFile {
    /** sun_path holds 108 bytes including the terminating NUL. */
    private static final int MAX_PATH = 107;

    private final Path target;
    private final Path privateDir;

    private UnixSocketFile(Path target, Path privateDir) {
        this.target = target;
        this.privateDir = privateDir;
    }

    /** Where to bind: a private directory next to {@code target}, or {@code target} when that path would be too long. */
    static UnixSocketFile prepare(Path target) throws IOException {
        Path parent = target.getParent();
        if (parent == null || parent.toString().getBytes(StandardCharsets.UTF_8).length + 14 > MAX_PATH) {
            return new UnixSocketFile(target, null);
        }
        try {
            Path dir = Files.createTempDirectory(parent, ".nbd",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            return new UnixSocketFile(target, dir);
        } catch (IOException e) {
            throw new IOException("NBD: cannot listen on " + target + ": " + e.getMessage(), e);
        }
    }

    Path bindPath() {
        return privateDir == null ? target : privateDir.resolve("s");
    }

    /** After bind: mode 0660, then (when bound privately) moved to its path. */
    void publish() throws IOException {
        try {
            Files.setPosixFilePermissions(bindPath(), PosixFilePermissions.fromString("rw-rw----"));
            if (privateDir != null) {
                Files.move(bindPath(), target, StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (IOException e) {
            throw new IOException("NBD: cannot set up the socket " + target + ": " + e.getMessage(), e);
        }
    }

    /** Removes the private directory (and a socket left in it when binding failed). */
    void cleanUp() {
        if (privateDir != null) {
            try {
                Files.deleteIfExists(privateDir.resolve("s"));
                Files.deleteIfExists(privateDir);
            } catch (IOException ignored) {
                // an empty hidden directory left behind harms nothing
            }
        }
    }

    /**
     * A socket file left by a killed daemon would make bind fail. Anything else in the way is
     * refused here: Netty's native bind would silently unlink whatever the path names.
     */
    static void removeStale(Path path) throws IOException {
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        if ((mode & 0170000) != 0140000) {
            throw new IOException("NBD: cannot listen on " + path + ": the path exists and is not a socket");
        }
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(path));
            throw new IOException("NBD: cannot listen on " + path + ": another server is listening there");
        } catch (ConnectException stale) {
            // nobody listens: a leftover of a process that died
        }
        Files.delete(path);
    }
}
