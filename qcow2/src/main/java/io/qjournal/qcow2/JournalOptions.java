package io.qjournal.qcow2;

import java.time.Duration;
import java.util.Locale;

/**
 * Settings of an image's metadata journal (`--journal=size=8M,block-size=4k,commit-interval=5s,
 * commit-datasize=1M,checksum=crc32c|sum,durable-commit=on|off,data=journal|ordered`).
 *
 * <p>{@code data=journal} (default): small writes into fresh clusters travel inside the
 * transaction, as ext4's data=journal for those writes; {@code data=ordered}: all guest data
 * is written in place, ordered before the metadata that points to it.
 */
public final class JournalOptions {
    long size = 8L << 20;
    int blockSize = 4096;
    // Changed over JMX while the image runs and read by the commit timer and monitoring threads.
    volatile Duration commitInterval = Duration.ofSeconds(5);
    volatile long commitDatasize = 1L << 20;
    boolean crc32c = true;
    boolean durableCommit = true;
    boolean journalData = true;

    public static JournalOptions defaults() {
        return new JournalOptions();
    }

    /** Parses the comma-separated key=value form; an empty string gives the defaults. */
    public static JournalOptions parse(String spec) {
        JournalOptions o = new JournalOptions();
        if (spec == null || spec.isBlank()) {
            return o;
        }
        for (String part : spec.split(",")) {
            int eq = part.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("journal option '" + part + "' needs a value (key=value)");
            }
            String k = part.substring(0, eq).trim();
            String v = part.substring(eq + 1).trim();
            switch (k) {
                case "size": o.size(Sizes.parse(v)); break;
                case "block-size": o.blockSize((int) Sizes.parse(v)); break;
                case "commit-interval": o.commitInterval(parseDuration(v)); break;
                case "commit-datasize": o.commitDatasize(Sizes.parse(v)); break;
                case "checksum":
                    if (!v.equals("crc32c") && !v.equals("sum")) {
                        throw new IllegalArgumentException("journal checksum must be crc32c or sum, not '" + v + "'");
                    }
                    o.crc32c = v.equals("crc32c");
                    break;
                case "durable-commit": o.durableCommit = onOff(k, v); break;
                case "data":
                    if (!v.equals("journal") && !v.equals("ordered")) {
                        throw new IllegalArgumentException("journal option data takes journal or ordered, not '" + v + "'");
                    }
                    o.journalData = v.equals("journal");
                    break;
                default: throw new IllegalArgumentException("unknown journal option '" + k + "'");
            }
        }
        return o;
    }

    private static boolean onOff(String k, String v) {
        switch (v) {
            case "on": return true;
            case "off": return false;
            default: throw new IllegalArgumentException("journal option " + k + " takes on or off, not '" + v + "'");
        }
    }

    /** "5s", "250ms", "1m", or plain seconds. */
    public static Duration parseDuration(String v) {
        String s = v.toLowerCase(Locale.ROOT);
        try {
            if (s.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(s.substring(0, s.length() - 2)));
            }
            if (s.endsWith("s")) {
                return Duration.ofMillis((long) (Double.parseDouble(s.substring(0, s.length() - 1)) * 1000));
            }
            if (s.endsWith("m")) {
                return Duration.ofSeconds(Long.parseLong(s.substring(0, s.length() - 1)) * 60);
            }
            return Duration.ofMillis((long) (Double.parseDouble(s) * 1000));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid duration '" + v + "' (use e.g. 5s or 250ms)");
        }
    }

    public JournalOptions size(long v) {
        if (v < 64 << 10 || v > 0xFFFF_0000L) {
            throw new IllegalArgumentException("journal size must be between 64K and 4G");
        }
        size = v;
        return this;
    }

    public JournalOptions blockSize(int v) {
        if (Integer.bitCount(v) != 1 || v < 512 || v > (2 << 20)) {
            throw new IllegalArgumentException("journal block size must be a power of two from 512 to 2M");
        }
        blockSize = v;
        return this;
    }

    public JournalOptions commitInterval(Duration v) {
        commitInterval = checkCommitInterval(v);
        return this;
    }

    public JournalOptions commitDatasize(long v) {
        commitDatasize = checkCommitDatasize(v);
        return this;
    }

    /**
     * The one rule for the commit interval, wherever it is set (CLI, daemon config, JMX): at
     * least 1 ms. A zero interval would commit after every write and run no timer.
     */
    public static Duration checkCommitInterval(Duration v) {
        if (v == null || v.compareTo(Duration.ofMillis(1)) < 0) {
            throw new IllegalArgumentException("commit interval must be at least 1 ms, not "
                    + (v == null ? "none" : v.toMillis() + " ms"));
        }
        return v;
    }

    /** The one rule for the commit data size, wherever it is set: not negative (0: commit after every write). */
    public static long checkCommitDatasize(long v) {
        if (v < 0) {
            throw new IllegalArgumentException("commit data size must not be negative, not " + v);
        }
        return v;
    }

    public JournalOptions crc32c(boolean v) {
        crc32c = v;
        return this;
    }

    public JournalOptions durableCommit(boolean v) {
        durableCommit = v;
        return this;
    }

    /** true: small writes into fresh clusters travel in the transaction (data=journal). */
    public boolean journalData() {
        return journalData;
    }

    public JournalOptions journalData(boolean v) {
        journalData = v;
        return this;
    }

    public long size() {
        return size;
    }

    public int blockSize() {
        return blockSize;
    }

    public Duration commitInterval() {
        return commitInterval;
    }

    /** true: CRC-32C block checksums, else a plain sum. */
    public boolean crc32c() {
        return crc32c;
    }

    /** true: a commit is durable with one flush (the commit record's checksum proves it complete). */
    public boolean durableCommit() {
        return durableCommit;
    }

    public long commitDatasize() {
        return commitDatasize;
    }
}
