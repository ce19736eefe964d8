package io.qjournal.qcow2.check;

/** What {@link ImageChecker} may repair, as {@code qemu-img check -r}. */
public enum RepairMode {
    /** Report only. */
    NONE,
    /** Lower refcounts that are too high (leaked clusters). */
    LEAKS,
    /** Leaks plus corruptions: raise refcounts, rebuild refcount structures, fix COPIED flags and bad L2 entries. */
    ALL;

    boolean fixLeaks() {
        return this != NONE;
    }

    boolean fixErrors() {
        return this == ALL;
    }
}
