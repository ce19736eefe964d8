package io.qjournal.qcow2.journal;

/** A dedup index change for the next transaction: {@code sha256} now names (or no longer names) a host cluster. */
record DedupOp(boolean insert, byte[] sha256, long hostOffset) {
}
