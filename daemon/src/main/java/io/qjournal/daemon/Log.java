package io.qjournal.daemon;

import java.io.PrintStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * One line per event on stderr: {@code [TIMESTAMP ]qjournald: [image NAME] message}. Under
 * systemd (JOURNAL_STREAM set) the journal stamps lines itself, so the timestamp is left out.
 */
public final class Log {
    private static final boolean STAMP = System.getenv("JOURNAL_STREAM") == null;
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
        line(null, message);
    }

    public static void image(String name, String message) {
        line(name, message);
    }

    /** Logs an error; the stack trace only with --debug. */
    public static void error(String name, String message, Throwable t) {
        line(name, message);
        if (debug && t != null) {
            synchronized (OUT) {
                t.printStackTrace(OUT);
            }
        }
    }

    public static void debug(String name, String message) {
        if (debug) {
            line(name, message);
        }
    }

    private static void line(String name, String message) {
        StringBuilder b = new StringBuilder(96);
        if (STAMP) {
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

    /** An exception's message without the class name noise, for one-line errors. */
    public static String reason(Throwable t) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
    }
}
