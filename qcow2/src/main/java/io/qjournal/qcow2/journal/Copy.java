package io.qjournal.qcow2.journal;

/**
 * A delayed copy-on-write (copy descriptor): {@code length} bytes at host offset
 * {@code source} belong at {@code target}.
 */
public record Copy(long target, long source, long length) {
    /** Whether the copy writes a byte of {@code [offset, offset + len)}. */
    public boolean overlapsTarget(long offset, long len) {
        return target < offset + len && offset < target + length;
    }
}
