package io.qjournal.daemon;

import java.io.PrintStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * One line per event on stderr: {@code [TIMESTAMP ]qjournald: [image NAME] message}. Under
 * systemd (JOURNAL_STREAM set) the journal stamps lines itself, so the timestamp is left out
 * and each line starts with its sd-daemon priority ({@code <3>} error, {@code <4>} warning,
 * {@code <6>} info, {@code <7>} debug), which journald strips and stores, so that
 * {@code journalctl -p err} finds a failed image.
 */
public final class Log {
    /** sd-daemon(3) priorities: the syslog levels journald reads from a line's prefix. */
    public enum Level {
        ERROR(3), WARNING(4), INFO(6), DEBUG(7);

        final String prefix;

        Level(int syslog) {
            this.prefix = "<" + syslog + ">";
        }
    }

    private static final boolean JOURNAL = System.getenv("JOURNAL_STREAM") != null;
    private static volatile boolean debug;
    private static final PrintStream OUT = System.err;

    private Log() {
    }

    public static void setDebug(boolean on) {
        debug = on;
    }

    public static boolean debug() {
        return debug;
    }

    public static void info(String message) {
        line(Level.INFO, null, message);
    }

    public static void image(String name, String message) {
        line(Level.INFO, name, message);
    }

    /** Something an operator should look at, though the daemon goes on as before. */
    public static void warn(String name, String message) {
        line(Level.WARNING, name, message);
    }

    /** Logs an error; the stack trace only with --debug. */
    public static void error(String name, String message, Throwable t) {
        line(Level.ERROR, name, message);
        if (debug && t != null) {
            java.io.StringWriter trace = new java.io.StringWriter();
            t.printStackTrace(new java.io.PrintWriter(trace));
            synchronized (OUT) {
                // Each trace line gets the prefix too, or the journal files it as info.
                trace.toString().lines().forEach(l -> OUT.println(prefix(Level.ERROR) + l));
                OUT.flush();
            }
        }
    }

    public static void debug(String name, String message) {
        if (debug) {
            line(Level.DEBUG, name, message);
        }
    }

    public static void line(Level level, String name, String message) {
        StringBuilder b = new StringBuilder(96);
        b.append(prefix(level));
        if (!JOURNAL) {
            b.append(Instant.now().truncatedTo(ChronoUnit.MILLIS)).append(' ');
        }
        b.append("qjournald: ");
        if (name != null) {
            b.append("[image ").append(name).append("] ");
        }
        // A message never spans lines: log readers and tests match whole lines.
        b.append(message.replace('\n', ' '));
        synchronized (OUT) {
            OUT.println(b);
            OUT.flush();
        }
    }

    /** The priority prefix for a line written to stderr outside {@link #line}; empty off the journal. */
    public static String prefix(Level level) {
        return JOURNAL ? level.prefix : "";
    }

    /** An exception's message without the class name noise, for one-line errors. */
    public static String reason(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
    }
}
