package io.qjournal.qcow2.journal.format;

import java.io.IOException;

/**
 * The ring has no room for a transaction without overwriting unsynced ones: the caller must
 * checkpoint (write metadata home, flush, {@link Journal#checkpointed}) and append again.
 */
public class JournalFullException extends IOException {
    private final long neededBlocks;
    private final long freeBlocks;

    public JournalFullException(String message, long neededBlocks, long freeBlocks) {
        super(message);
        this.neededBlocks = neededBlocks;
        this.freeBlocks = freeBlocks;
    }

    public long neededBlocks() {
        return neededBlocks;
    }

    public long freeBlocks() {
        return freeBlocks;
    }
}
