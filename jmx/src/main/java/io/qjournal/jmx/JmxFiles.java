package io.qjournal.jmx;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;

/**
 * The rules for the JMX password and access files, in one place so that the daemon can refuse a
 * bad file before it opens any image (and {@code --check-config} can report it) with the same
 * words the agent would use later. Every problem is an {@link IOException} whose message is one
 * line: {@code FILE: problem}.
 */
public final class JmxFiles {
    private static final Set<PosixFilePermission> GROUP_OR_OTHERS = EnumSet.of(
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);
    private static final Set<PosixFilePermission> GROUP_OR_OTHERS_WRITE = EnumSet.of(
            PosixFilePermission.GROUP_WRITE, PosixFilePermission.OTHERS_WRITE);

    private JmxFiles() {
    }

    /**
     * The JDK's rule for a password file (it holds clear-text passwords): only its owner may
     * access it, i.e. mode 0600 or 0400; and the owner must be the user the daemon runs as, so
     * that nobody else can rewrite who may log in.
     */
    public static void checkPasswordFile(Path file) throws IOException {
        PosixFileAttributes a = readable(file, "password file");
        if (a == null) {
            return;
        }
        Set<PosixFilePermission> extra = EnumSet.copyOf(GROUP_OR_OTHERS);
        extra.retainAll(a.permissions());
        if (!extra.isEmpty()) {
            throw new IOException(file + ": password file must be readable only by its owner (it has mode "
                    + mode(a) + "; chmod 600)");
        }
        String user = System.getProperty("user.name");
        String owner = a.owner().getName();
        if (!owner.equals(user)) {
            throw new IOException(file + ": password file is owned by " + owner + ", not by " + user
                    + ", the user the daemon runs as");
        }
    }

    /** An access file is read as is; one that group or others can write lets them grant themselves roles. */
    public static void checkAccessFile(Path file) throws IOException {
        PosixFileAttributes a = readable(file, "access file");
        if (a == null) {
            return;
        }
        Set<PosixFilePermission> extra = EnumSet.copyOf(GROUP_OR_OTHERS_WRITE);
        extra.retainAll(a.permissions());
        if (!extra.isEmpty()) {
            throw new IOException(file + ": access file must not be writable by group or others (it has mode "
                    + mode(a) + ")");
        }
    }

    /** Exists, is a regular file and readable; its POSIX attributes, or null on a non-POSIX file system. */
    private static PosixFileAttributes readable(Path file, String what) throws IOException {
        if (!Files.exists(file)) {
            throw new IOException(file + ": " + what + " does not exist");
        }
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + ": " + what + " is not a regular file");
        }
        if (!Files.isReadable(file)) {
            throw new IOException(file + ": cannot read " + what + " (permission denied)");
        }
        try {
            return Files.readAttributes(file, PosixFileAttributes.class, new LinkOption[0]);
        } catch (UnsupportedOperationException e) {
            return null;
        }
    }

    private static String mode(PosixFileAttributes a) {
        int bits = 0;
        for (PosixFilePermission p : a.permissions()) {
            bits |= 1 << (8 - p.ordinal());
        }
        return String.format("%04o, %s", bits, PosixFilePermissions.toString(a.permissions()));
    }
}
