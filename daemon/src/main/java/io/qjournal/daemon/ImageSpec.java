package io.qjournal.daemon;

import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.Sizes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Pattern;

/**
 * One image to serve: {@code NAME=PATH[,journal=on|off][,readonly=on][,commit-interval=5s]
 * [,commit-datasize=1M][,description=TEXT]}. {@code description=} comes last: its TEXT runs to
 * the end of the spec, commas included.
 *
 * @param journal live metadata journal (default: on for read-write images)
 * @param commitInterval null = the journal's default
 * @param commitDatasize -1 = the journal's default
 * @param description what NBD clients are told the export is; null = the export name (never
 *     the host path: clients have no business knowing the server's file layout)
 */
public record ImageSpec(String name, Path path, boolean readOnly, boolean journal, Duration commitInterval,
        long commitDatasize, String description) {
    /** The NBD server sends at most this much of a description; a longer one is refused, not cut. */
    static final int MAX_DESCRIPTION_CHARS = 256;

    // Export names travel in NBD URIs and JMX ObjectNames: keep them free of quoting trouble.
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._+-]{0,127}");

    public static ImageSpec of(String name, Path path, boolean readOnly) throws ConfigException {
        checkName(name, name + "=" + path);
        return new ImageSpec(name, path, readOnly, !readOnly, null, -1, null);
    }

    /** Parses the --image / {@code image =} form; the path is relative to the working directory. */
    public static ImageSpec parse(String spec) throws ConfigException {
        int eq = spec.indexOf('=');
        if (eq <= 0) {
            throw new ConfigException("image '" + spec + "': expected NAME=PATH[,journal=on|off][,readonly=on]"
                    + "[,commit-interval=…][,commit-datasize=…]");
        }
        String name = spec.substring(0, eq).trim();
        checkName(name, spec);
        String[] parts = spec.substring(eq + 1).split(",");
        String file = parts[0].trim();
        if (file.isEmpty()) {
            throw new ConfigException("image '" + name + "': missing path");
        }
        Boolean journal = null;
        boolean readOnly = false;
        Duration interval = null;
        long datasize = -1;
        String description = null;
        for (int i = 1; i < parts.length && description == null; i++) {
            String part = parts[i].trim();
            int e = part.indexOf('=');
            String k = e < 0 ? part : part.substring(0, e).trim();
            String v = e < 0 ? "" : part.substring(e + 1).trim();
            switch (k) {
                case "journal":
                    journal = onOff(name, k, v);
                    break;
                case "readonly":
                    readOnly = onOff(name, k, v);
                    break;
                case "commit-interval":
                    try {
                        interval = JournalOptions.parseDuration(v);
                        JournalOptions.defaults().commitInterval(interval);
                    } catch (IllegalArgumentException ex) {
                        throw new ConfigException("image '" + name + "': " + ex.getMessage());
                    }
                    break;
                case "commit-datasize":
                    try {
                        datasize = Sizes.parse(v);
                        JournalOptions.defaults().commitDatasize(datasize);
                    } catch (IllegalArgumentException ex) {
                        throw new ConfigException("image '" + name + "': invalid commit-datasize '" + v + "'");
                    }
                    break;
                case "description":
                    description = description(name, String.join(",", java.util.Arrays.asList(parts)
                            .subList(i, parts.length)).substring(parts[i].indexOf('=') + 1).strip());
                    break;
                default:
                    throw new ConfigException("image '" + name + "': unknown option '" + k
                            + "' (known: journal, readonly, commit-interval, commit-datasize, description)");
            }
        }
        if (readOnly && Boolean.TRUE.equals(journal)) {
            throw new ConfigException("image '" + name + "': journal=on needs a read-write image (drop readonly=on)");
        }
        boolean j = journal == null ? !readOnly : journal;
        if (!j && (interval != null || datasize >= 0)) {
            throw new ConfigException("image '" + name + "': commit-interval and commit-datasize need journal=on");
        }
        return new ImageSpec(name, Path.of(file), readOnly, j, interval, datasize, description);
    }

    /** This image at another path (a config file's relative path resolved against the file). */
    public ImageSpec withPath(Path p) {
        return new ImageSpec(name, p, readOnly, journal, commitInterval, commitDatasize, description);
    }

    /** The text NBD_INFO_DESCRIPTION carries: the description, else the export name. */
    public String exportDescription() {
        return description == null ? name : description;
    }

    private static String description(String name, String text) throws ConfigException {
        if (text.isEmpty()) {
            throw new ConfigException("image '" + name + "': description= needs a text");
        }
        if (text.length() > MAX_DESCRIPTION_CHARS) {
            throw new ConfigException("image '" + name + "': description longer than " + MAX_DESCRIPTION_CHARS
                    + " characters");
        }
        if (text.chars().anyMatch(Character::isISOControl)) {
            throw new ConfigException("image '" + name + "': description contains control characters");
        }
        return text;
    }

    /** The journal options of this image, or null when it runs without a journal. */
    public JournalOptions journalOptions() {
        if (!journal) {
            return null;
        }
        JournalOptions o = JournalOptions.defaults();
        if (commitInterval != null) {
            o.commitInterval(commitInterval);
        }
        if (commitDatasize >= 0) {
            o.commitDatasize(commitDatasize);
        }
        return o;
    }

    static void checkName(String name, String spec) throws ConfigException {
        if (!NAME.matcher(name).matches()) {
            throw new ConfigException("image '" + spec + "': name '" + name
                    + "' must be letters, digits, '.', '_', '+', '-' (at most 128, not starting with a symbol)");
        }
    }

    private static boolean onOff(String name, String k, String v) throws ConfigException {
        switch (v) {
            case "on": case "true": case "yes":
                return true;
            case "off": case "false": case "no":
                return false;
            default:
                throw new ConfigException("image '" + name + "': " + k + " takes on or off, not '" + v + "'");
        }
    }
}
