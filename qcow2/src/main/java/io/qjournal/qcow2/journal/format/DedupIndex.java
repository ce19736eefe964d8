package io.qjournal.qcow2.journal.format;

import java.io.IOException;

/**
 * Where replayed deduplication descriptors (types 4 and 5) go. Online deduplication is not
 * implemented yet; the default sink ignores them. Implementations must be idempotent (insert is
 * a put, delete removes the pair if present) because a crashed replay runs again from the start.
 */
interface DedupIndex {
    void insert(byte[] hash, long hostClusterOffset) throws IOException;

    void delete(byte[] hash, long hostClusterOffset) throws IOException;

    DedupIndex NONE = new DedupIndex() {
        @Override
        public void insert(byte[] hash, long hostClusterOffset) {
        }

        @Override
        public void delete(byte[] hash, long hostClusterOffset) {
        }
    };
}
