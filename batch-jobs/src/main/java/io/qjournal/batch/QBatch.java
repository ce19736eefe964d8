package io.qjournal.batch;

import jakarta.batch.operations.JobOperator;
import jakarta.batch.runtime.BatchStatus;
import jakarta.batch.runtime.JobExecution;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Properties;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jberet.operations.JobOperatorImpl;
import org.jberet.se.BatchSEEnvironment;

/**
 * One process's batch runtime: JBeret SE (inside Weld SE) over the configured JDBC job
 * repository, plus qjournal's result tables in the same database. Built only when a `batch`
 * command runs, so other commands never pay for Weld or JBeret.
 */
public final class QBatch implements AutoCloseable {
    private static volatile QBatch current;
    /** Strong references: JUL forgets loggers nobody holds, and with them their levels. */
    private static final class Quiet {
        static final Logger[] LOGGERS = {Logger.getLogger("org.jboss"), Logger.getLogger("org.jberet"),
            Logger.getLogger("org.h2")};
    }

    private final BatchSettings settings;
    private final ResultStore store;
    private final Connection keepOpen;
    private JobOperator operator;
    private final Object ended = new Object();
    private volatile long endSignals;

    private QBatch(BatchSettings settings) throws SQLException {
        this.settings = settings;
        this.store = new ResultStore(settings);
        this.keepOpen = store.connect();
    }

    /** The runtime the batch artifacts of this process report to. */
    public static QBatch current() {
        QBatch q = current;
        if (q == null) {
            throw new IllegalStateException("the qjournal batch runtime is not initialised in this process");
        }
        return q;
    }

    /**
     * Opens the repository (creating the state directory and the tables as needed).
     *
     * @throws IllegalArgumentException one clear line when the state dir or repository is unusable
     */
    public static synchronized QBatch open(BatchSettings settings) {
        if (current != null) {
            return current;
        }
        configure();
        try {
            Files.createDirectories(settings.reportsDir());
        } catch (IOException e) {
            throw new IllegalArgumentException(settings.stateDir() + ": cannot create the batch state directory ("
                    + e.getMessage() + "); choose another with --state-dir or QJOURNAL_BATCH_STATE");
        }
        QBatch q;
        try {
            q = new QBatch(settings);
            q.store.createTables();
        } catch (SQLException e) {
            throw new IllegalArgumentException("job repository " + redact(settings.repositoryUrl()) + ": " + oneLine(e));
        }
        current = q;
        return q;
    }

    /**
     * Begins the batch runtime's start ahead of {@link #open}, for a command that is about to
     * run a job: Weld then boots while the command line is checked and the repository opens.
     * Without it, Weld starts when {@link #operator} is first needed: `list`, `status` and
     * `report` read the tables only and never start it.
     */
    public static synchronized void prestart() {
        configure();
        // Weld's start is the longest part of a job's start: it goes first (and quiets the logs
        // on its own thread before it logs anything).
        CdiBoot.begin();
    }

    private static void configure() {
        System.setProperty("org.jboss.logging.provider", "jdk");
        // H2's auto-server listens for the other local qjournal processes only (it would
        // listen on every interface, guarded by a key in the lock file).
        if (System.getProperty("h2.bindAddress") == null) {
            System.setProperty("h2.bindAddress", "127.0.0.1");
        }
    }

    /** JBeret and Weld log at INFO on every start; QJOURNAL_BATCH_LOG=1 shows it for debugging. */
    static void quietLogs() {
        // Not under QBatch's own lock: open() holds that while the repository opens, and Weld's
        // thread must not wait for it.
        synchronized (Quiet.class) {
            if (System.getenv("QJOURNAL_BATCH_LOG") == null) {
                for (Logger l : Quiet.LOGGERS) {
                    l.setLevel(Level.SEVERE);
                }
            }
        }
    }

    /** JBeret and Weld start on first use: `batch report` and `list` read the tables only. */
    public synchronized JobOperator operator() {
        if (operator == null) {
            quietLogs();
            Thread t = Thread.currentThread();
            ClassLoader old = t.getContextClassLoader();
            ClassLoader base = old != null ? old : QBatch.class.getClassLoader();
            // BatchSEEnvironment reads jberet.properties through the context loader: hand it ours.
            t.setContextClassLoader(new ConfigLoader(base, jberetProperties()));
            // Weld starts (unless prestart began it) beside the operator and its repository, and
            // the job's start; the first artifact waits for it (WeldEnvironment).
            CdiBoot.begin();
            JobOperator made;
            try {
                made = new JobOperatorImpl(new WeldEnvironment(new BatchSEEnvironment()));
            } finally {
                t.setContextClassLoader(old);
            }
            operator = made;
        }
        return operator;
    }

    private byte[] jberetProperties() {
        Properties p = new Properties();
        p.setProperty("job-repository-type", "jdbc");
        p.setProperty("db-url", settings.repositoryUrl());
        if (settings.user() != null) {
            p.setProperty("db-user", settings.user());
        }
        if (settings.password() != null) {
            p.setProperty("db-password", settings.password());
        }
        p.setProperty("thread-pool-type", "Cached");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            p.store(out, null);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.toByteArray();
    }

    public BatchSettings settings() {
        return settings;
    }

    public ResultStore store() {
        return store;
    }

    public Connection connect() throws SQLException {
        return store.connect();
    }

    public static boolean running(BatchStatus s) {
        return s == BatchStatus.STARTING || s == BatchStatus.STARTED || s == BatchStatus.STOPPING;
    }

    /** Polls until the execution ends; {@code tick} runs after every poll (progress, stop requests). */
    public JobExecution await(long executionId, Runnable tick) throws InterruptedException {
        // Polls back off from 5 ms to 250 ms; a job of this process reaching its end listener
        // wakes the wait at once, so a short job is not held up by the poll interval.
        long pause = 5;
        while (true) {
            long seen = endSignals;
            JobExecution e = operator().getJobExecution(executionId);
            if (tick != null) {
                tick.run();
            }
            if (!running(e.getBatchStatus())) {
                awaitStored(executionId);
                return e;
            }
            synchronized (ended) {
                if (endSignals == seen) {
                    ended.wait(pause);
                }
            }
            pause = endSignals != seen ? 2 : Math.min(250, pause * 2);
        }
    }

    /**
     * JBeret marks an execution ended in memory a moment before its job thread writes the end
     * to the repository. A command that exited in between closed the database under that write
     * (H2's shutdown hook), and the repository kept the execution as STARTED, as if its process
     * had crashed. So the wait ends when the stored status has ended too (or after 30 s, should
     * the write never come).
     */
    private void awaitStored(long executionId) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        try (Connection c = connect()) {
            while (System.nanoTime() < deadline) {
                String stored = JberetTables.status(c, executionId);
                if (stored != null && !running(BatchStatus.valueOf(stored))) {
                    return;
                }
                Thread.sleep(2);
            }
        } catch (SQLException | IllegalArgumentException e) {
            // The in-memory status is final; an unreadable repository is reported by the caller's reads.
        }
    }

    /** Called by the job-end listener: the job's final status is moments away. */
    void jobEnding() {
        synchronized (ended) {
            endSignals++;
            ended.notifyAll();
        }
    }

    @Override
    public synchronized void close() {
        try {
            keepOpen.close();
        } catch (SQLException e) {
            // Closing a database we are leaving: nothing to do about it.
        }
        if (current == this) {
            current = null;
        }
    }

    public static String redact(String url) {
        return url.replaceAll("(?i)(password=)[^;&]*", "$1***");
    }

    public static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    /** A class loader that serves a generated jberet.properties and delegates everything else. */
    private static final class ConfigLoader extends ClassLoader {
        private final byte[] config;

        ConfigLoader(ClassLoader parent, byte[] config) {
            super(parent);
            this.config = config;
        }

        @Override
        public InputStream getResourceAsStream(String name) {
            if ("jberet.properties".equals(name)) {
                return new ByteArrayInputStream(config);
            }
            return super.getResourceAsStream(name);
        }
    }
}
