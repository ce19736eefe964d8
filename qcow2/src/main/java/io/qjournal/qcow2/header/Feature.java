package io.qjournal.qcow2.header;

/** Feature bits this engine knows, with the names it writes into the feature name table. */
public enum Feature {
    DIRTY(Kind.INCOMPATIBLE, 0, "dirty bit"),
    CORRUPT(Kind.INCOMPATIBLE, 1, "corrupt bit"),
    EXTERNAL_DATA_FILE(Kind.INCOMPATIBLE, 2, "external data file"),
    COMPRESSION_TYPE(Kind.INCOMPATIBLE, 3, "compression type"),
    EXTENDED_L2(Kind.INCOMPATIBLE, 4, "extended L2 entries"),
    /** Bits 0..4 are QEMU's and 5 is claimed by pending QEMU work: the journal takes 60. */
    JOURNAL_DIRTY(Kind.INCOMPATIBLE, 60, "journal dirty"),
    LAZY_REFCOUNTS(Kind.COMPATIBLE, 0, "lazy refcounts"),
    BITMAPS(Kind.AUTOCLEAR, 0, "bitmaps"),
    RAW_EXTERNAL(Kind.AUTOCLEAR, 1, "raw external data"),
    JOURNAL_VALID(Kind.AUTOCLEAR, 60, "journal valid");

    public enum Kind { INCOMPATIBLE, COMPATIBLE, AUTOCLEAR }

    public static final long KNOWN_INCOMPATIBLE = mask(Kind.INCOMPATIBLE);
    public static final long KNOWN_COMPATIBLE = mask(Kind.COMPATIBLE);
    public static final long KNOWN_AUTOCLEAR = mask(Kind.AUTOCLEAR);

    private final Kind kind;
    private final int bit;
    private final String featureName;

    Feature(Kind kind, int bit, String featureName) {
        this.kind = kind;
        this.bit = bit;
        this.featureName = featureName;
    }

    public Kind kind() {
        return kind;
    }

    public int bit() {
        return bit;
    }

    public long mask() {
        return 1L << bit;
    }

    public String featureName() {
        return featureName;
    }

    private static long mask(Kind kind) {
        long m = 0;
        for (Feature f : values()) {
            if (f.kind == kind) {
                m |= f.mask();
            }
        }
        return m;
    }
}
