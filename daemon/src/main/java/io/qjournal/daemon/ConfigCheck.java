package io.qjournal.daemon;

import io.qjournal.jmx.JmxFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks of the files the settings name, made without opening any image (no lock taken, no
 * byte written) and without binding any listener: {@link #beforeImages} at every start, so that
 * a bad password file stops the daemon before an image is touched; {@link #run} for
 * {@code qjournald --check-config}, which adds what a start finds out only while opening.
 */
final class ConfigCheck {
    private ConfigCheck() {
    }

    /** --check-config: prints "configuration OK" and returns 0, or one error line and 2. */
    static int run(DaemonConfig c) {
        try {
            check(c);
        } catch (ConfigException e) {
            System.err.println(Log.prefix(Log.Level.ERROR) + "qjournald: " + e.getMessage());
            return 2;
        }
        System.out.println("configuration OK");
        return 0;
    }

    /** Everything --check-config looks at; the first problem as one line naming the file. */
    static void check(DaemonConfig c) throws ConfigException {
        beforeImages(c);
        for (ImageSpec spec : Qjournald.resolveImages(c)) {
            checkImageFile(spec);
        }
        checkSocketDirectory(c);
    }

    /** What must hold before any image is opened; one line naming the file and the problem. */
    static void beforeImages(DaemonConfig c) throws ConfigException {
        if (c.jmx != null && !c.jmxNoAuth) {
            try {
                JmxFiles.checkPasswordFile(c.jmxPasswordFile);
                if (c.jmxAccessFile != null) {
                    JmxFiles.checkAccessFile(c.jmxAccessFile);
                }
            } catch (IOException e) {
                throw new ConfigException(e.getMessage());
            }
        }
        checkTlsCredentials(c);
    }

    /**
     * The NBD TLS credentials (--nbd-tls-creds DIR): each file parses, the key belongs to the
     * certificate, the certificate is valid now and chains to the CA. The same load the start
     * uses, so a start and --check-config refuse bad credentials alike, before any image opens.
     */
    static void checkTlsCredentials(DaemonConfig c) throws ConfigException {
        Qjournald.loadNbdTls(c);
    }

    /** access(2) only: the file is neither opened nor locked, so a running user of it is not disturbed. */
    private static void checkImageFile(ImageSpec spec) throws ConfigException {
        Path p = spec.path();
        String where = "image '" + spec.name() + "' " + p + ": ";
        if (!Files.exists(p)) {
            throw new ConfigException(where + "no such file");
        }
        if (!Files.isRegularFile(p)) {
            throw new ConfigException(where + "not a regular file");
        }
        if (!Files.isReadable(p)) {
            throw new ConfigException(where + "not readable");
        }
        if (!spec.readOnly() && !Files.isWritable(p)) {
            throw new ConfigException(where + "not writable (serve it with readonly=on, or fix its permissions)");
        }
    }

    private static void checkSocketDirectory(DaemonConfig c) throws ConfigException {
        if (c.nbdSocket == null) {
            return;
        }
        Path dir = c.nbdSocket.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new ConfigException("nbd-socket " + c.nbdSocket + ": directory " + dir + " does not exist");
        }
        if (!Files.isWritable(dir)) {
            throw new ConfigException("nbd-socket " + c.nbdSocket + ": directory " + dir + " is not writable");
        }
    }
}
