package io.qjournal.qcow2.storage;

/** A byte range of a file: {@code length} bytes from {@code offset}. */
public record Extent(long offset, long length) {
    /** The first byte after the range. */
    public long end() {
        return offset + length;
    }

    /** Whether the range shares a byte with {@code [start, start + len)}. */
    public boolean overlaps(long start, long len) {
        return offset < start + len && start < offset + length;
    }
}
