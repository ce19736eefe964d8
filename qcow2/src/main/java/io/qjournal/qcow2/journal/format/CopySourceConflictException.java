package io.qjournal.qcow2.journal.format;

import java.io.IOException;

/**
 * A transaction would write into the source range of a copy that is not synced yet. Replay reads
 * copy sources from the image, so such a journal could not be replayed twice with the same
 * result; the caller must checkpoint first (the copy is then synced) and append again.
 */
class CopySourceConflictException extends IOException {
    public CopySourceConflictException(String message) {
        super(message);
    }
}
