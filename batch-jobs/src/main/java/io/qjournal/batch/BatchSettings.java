package io.qjournal.batch;

import java.io.IOException;
import java.io.Reader;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/**
 * Where the batch runtime keeps its state and which job repository it uses. Sources, later
 * ones winning: defaults, the config file (/etc/qjournal/batch.conf, or QJOURNAL_BATCH_CONF),
 * environment (QJOURNAL_BATCH_STATE, QJOURNAL_BATCH_REPOSITORY, QJOURNAL_HOST), command options.
 *
 * @param stateDir holds the default H2 repository and the reports
 * @param repositoryUrl JDBC URL of the job repository
 * @param host the name this host's executions are recorded under (fleets share one repository)
 */
public record BatchSettings(Path stateDir, String repositoryUrl, String user, String password, String host) {
    public static final Path DEFAULT_STATE = Path.of("/var/lib/qjournal/batch");
    public static final Path DEFAULT_CONFIG = Path.of("/etc/qjournal/batch.conf");

    public Path reportsDir() {
        return stateDir.resolve("reports");
    }

    /**
     * The embedded default: AUTO_SERVER lets `status` in a second process read while a job runs
     * (the first process to open the file serves it); AUTO_RECONNECT lets the others carry on
     * when that process exits. WRITE_DELAY=0: a commit reaches the file at once (H2 would
     * otherwise batch commits for up to half a second, and a killed sweep would forget images
     * it had recorded as done). FILE_LOCK=SOCKET: the process that has the file open holds a
     * listening socket whose address is in the lock file. The auto-server's default, a lock file
     * that its owner keeps rewriting, makes every open sleep 25 ms to see whether someone else is
     * writing it too, and makes a process that finds the file of a killed owner wait until the
     * file has gone two seconds without a rewrite. The socket lock's file is written once: the
     * finder waits only while it is under two seconds old, then a refused connection proves the
     * owner gone.
     *
     * <p>H2 compacts the file when the last connection closes, for up to 200 ms: a good part of
     * a short sweep. Without it the file grows by dead chunks at every sweep. So it compacts only once the file has passed {@link #COMPACT_ABOVE_BYTES}
     * (one command's exit in a dozen sweeps' time, which brings it back under a megabyte).
     */
    public static String h2Url(Path stateDir) {
        Path base = stateDir.toAbsolutePath().resolve("repository");
        return "jdbc:h2:file:" + base + ";FILE_LOCK=SOCKET;AUTO_SERVER=TRUE;AUTO_RECONNECT=TRUE;WRITE_DELAY=0;TRACE_LEVEL_FILE=0"
                + (sizeOf(base.resolveSibling("repository.mv.db")) > COMPACT_ABOVE_BYTES ? "" : ";MAX_COMPACT_TIME=0");
    }

    /** The size of the default repository file past which closing it compacts it. */
    public static final long COMPACT_ABOVE_BYTES = 8L << 20;

    private static long sizeOf(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * Resolves the settings. Null arguments mean "not given on the command line".
     *
     * @throws IllegalArgumentException with one clear line when the config file is unreadable
     */
    public static BatchSettings resolve(Path config, Path stateDir, String repository, String host) {
        Properties p = new Properties();
        Path conf = config;
        if (conf == null && System.getenv("QJOURNAL_BATCH_CONF") != null) {
            conf = Path.of(System.getenv("QJOURNAL_BATCH_CONF"));
        }
        boolean explicit = conf != null;
        if (conf == null) {
            conf = DEFAULT_CONFIG;
        }
        if (explicit || Files.isReadable(conf)) {
            try (Reader r = Files.newBufferedReader(conf)) {
                p.load(r);
            } catch (IOException e) {
                throw new IllegalArgumentException(conf + ": cannot read the batch configuration: " + e.getMessage());
            }
        }
        Path state = stateDir != null ? stateDir
                : env("QJOURNAL_BATCH_STATE") != null ? Path.of(env("QJOURNAL_BATCH_STATE"))
                : p.getProperty("state-dir") != null ? Path.of(p.getProperty("state-dir").trim()) : DEFAULT_STATE;
        String url = repository != null ? repository
                : env("QJOURNAL_BATCH_REPOSITORY") != null ? env("QJOURNAL_BATCH_REPOSITORY")
                : p.getProperty("repository") != null ? p.getProperty("repository").trim() : h2Url(state);
        if (!url.startsWith("jdbc:")) {
            throw new IllegalArgumentException("repository '" + url + "' is not a JDBC URL (expecting jdbc:...)");
        }
        String h = host != null ? host
                : env("QJOURNAL_HOST") != null ? env("QJOURNAL_HOST")
                : p.getProperty("host") != null ? p.getProperty("host").trim() : localHostName();
        if (h.isBlank() || h.length() > 255) {
            throw new IllegalArgumentException("host name '" + h + "' must be 1 to 255 characters");
        }
        return new BatchSettings(state, url, trimOrNull(p.getProperty("repository-user")),
                trimOrNull(p.getProperty("repository-password")), h);
    }

    private static String trimOrNull(String s) {
        return s == null ? null : s.trim();
    }

    private static String env(String k) {
        String v = System.getenv(k);
        return v == null || v.isBlank() ? null : v;
    }

    static String localHostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            String h = System.getenv("HOSTNAME");
            return h == null || h.isBlank() ? "localhost" : h;
        }
    }
}
