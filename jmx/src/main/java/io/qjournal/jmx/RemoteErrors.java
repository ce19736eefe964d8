package io.qjournal.jmx;

import java.io.IOException;

/**
 * Exceptions that cross the JMX connector must deserialize in jconsole and jmxterm, which do
 * not have the engine's classes: an engine exception (or one carried as a cause) would reach
 * them as an unmarshalling error instead of its message. So every error leaving a bean is
 * rebuilt as a plain JDK exception holding only its one-line message.
 */
final class RemoteErrors {
    private RemoteErrors() {}

    static IOException io(String subject, Exception e) {
        return new IOException(message(subject, e));
    }

    static RuntimeException runtime(String subject, RuntimeException e) {
        if (e instanceof IllegalArgumentException) {
            return new IllegalArgumentException(message(subject, e));
        }
        if (e instanceof UnsupportedOperationException) {
            return new UnsupportedOperationException(message(subject, e));
        }
        return new IllegalStateException(message(subject, e));
    }

    private static String message(String subject, Exception e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            m = e.getClass().getSimpleName();
        }
        // Engine messages name the file; the image name is what the operator typed in jmxterm.
        return subject == null || m.startsWith(subject + ": ") ? m : subject + ": " + m;
    }
}
