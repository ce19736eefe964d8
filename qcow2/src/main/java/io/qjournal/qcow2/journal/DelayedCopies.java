package io.qjournal.qcow2.journal;

import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Delayed copy-on-write through the journal: copies not yet in a transaction, and those of
 * committed transactions that the next checkpoint performs. Reads see both through
 * {@link #into}. Runs under the image's lock, as the writer that holds it.
 */
final class DelayedCopies {
    private final List<Copy> pending = new ArrayList<>();
    private final List<Copy> committed = new ArrayList<>();

    void add(Copy c) {
        pending.add(c);
    }

    List<Copy> pending() {
        return pending;
    }

    /** Copies (pending or committed, not yet performed) whose target overlaps the range. */
    List<Copy> into(long offset, long length) {
        List<Copy> out = new ArrayList<>();
        for (List<Copy> l : List.of(committed, pending)) {
            for (Copy c : l) {
                if (c.overlapsTarget(offset, length)) {
                    out.add(c);
                }
            }
        }
        return out;
    }

    /** Forgets the copies into a range; true when one of them was committed already. */
    boolean drop(long offset, long length) {
        pending.removeIf(c -> c.overlapsTarget(offset, length));
        return committed.removeIf(c -> c.overlapsTarget(offset, length));
    }

    /** The pending copies went into a committed transaction. */
    void pendingCommitted() {
        committed.addAll(pending);
        pending.clear();
    }

    /** Performs the pending copies now (a transaction too large for the ring falls back to ordered writes). */
    void performPending(Storage storage) throws IOException {
        perform(storage, pending);
        pending.clear();
    }

    /** Performs the committed copies (the checkpoint). */
    void performCommitted(Storage storage) throws IOException {
        perform(storage, committed);
        committed.clear();
    }

    private static void perform(Storage storage, List<Copy> copies) throws IOException {
        for (Copy c : copies) {
            byte[] buf = new byte[(int) c.length()];
            storage.read(c.source(), buf, 0, buf.length);
            storage.write(c.target(), buf, 0, buf.length);
        }
    }
}
