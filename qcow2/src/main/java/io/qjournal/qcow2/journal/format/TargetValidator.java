package io.qjournal.qcow2.journal.format;

import java.io.IOException;

/**
 * Given by the image layer so that a replay only ever touches ranges it considers metadata:
 * every range is checked before the first byte of a replay is written, so a rejected journal
 * leaves the image untouched.
 */
public interface TargetValidator {
    /** Throws when a write or copy of {@code length} bytes at {@code offset} must not happen. */
    void check(long offset, long length) throws IOException;

    /** Throws when a copy must not read {@code length} bytes at {@code offset}; default allows. */
    default void checkSource(long offset, long length) throws IOException {
    }

    /** Accepts everything: for tests and tools replaying into scratch storage. */
    TargetValidator ANY = (offset, length) -> { };
}
