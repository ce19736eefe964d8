package io.qjournal.batch;

/**
 * Per-image outcome, ordered from best to worst: a job's exit status is its worst finding.
 * IN-USE ranks low because a locked image is normal on a host with running guests; it still
 * has its own exit code so a script can tell that some images were not looked at.
 */
public enum Finding {
    CLEAN("CLEAN", 0),
    IN_USE("IN-USE", 5),
    LEAKS("LEAKS", 3),
    DIRTY_JOURNAL("DIRTY-JOURNAL", 4),
    CORRUPT("CORRUPT", 2),
    FAILED("FAILED", 1);

    private final String label;
    private final int exitCode;

    Finding(String label, int exitCode) {
        this.label = label;
        this.exitCode = exitCode;
    }

    public String label() {
        return label;
    }

    public int exitCode() {
        return exitCode;
    }

    public static Finding ofLabel(String s) {
        for (Finding f : values()) {
            if (f.label.equals(s)) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown result '" + s + "'");
    }

    public static Finding worst(Finding a, Finding b) {
        return a.ordinal() >= b.ordinal() ? a : b;
    }
}
