package io.qjournal.jmx;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.stream.Collectors;

/**
 * The daemon's deserialization filter patterns. The JVM-wide one lives in
 * {@code etc/qjournald.serial-filter}, which bin/qjournald turns into {@code -Djdk.serialFilter}
 * and the build copies into this module: the connector applies the very same pattern to every
 * remote call, so a daemon started without the launcher is filtered too.
 */
public final class SerialFilter {
    /** The file under etc/ and, in the jar, the resource next to this class. */
    public static final String FILE_NAME = "qjournald.serial-filter";

    /**
     * Login credentials: the JDK agent's own rule (a user and a password, as {@code String[]}),
     * with bounds. Checked before the authenticator sees anything.
     */
    public static final String CREDENTIALS = "maxdepth=2;maxrefs=8;maxarray=2;java.lang.String;!*";

    private static volatile String pattern;

    private SerialFilter() {}

    /** The {@code jdk.serialFilter} pattern of {@link #FILE_NAME}, one line of ';'-joined patterns. */
    public static String pattern() {
        String p = pattern;
        if (p == null) {
            try (InputStream in = SerialFilter.class.getResourceAsStream(FILE_NAME)) {
                if (in == null) {
                    throw new IllegalStateException(FILE_NAME + " missing from the qjournal-jmx jar");
                }
                p = parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new UncheckedIOException(FILE_NAME + ": " + e.getMessage(), e);
            }
            pattern = p;
        }
        return p;
    }

    /** As bin/qjournald reads the file: drop comments and blanks, join the lines with ';'. */
    public static String parse(String text) {
        return text.lines()
                .map(l -> l.replaceAll("#.*", "").replaceAll("\\s", ""))
                .filter(l -> !l.isEmpty())
                .collect(Collectors.joining(";"));
    }
}
