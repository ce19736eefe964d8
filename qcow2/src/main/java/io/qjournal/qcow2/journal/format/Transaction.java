package io.qjournal.qcow2.journal.format;

import java.util.List;

/**
 * A transaction as found in the ring: its descriptor block at ring block {@code index} and the
 * {@code dataBlocks} data blocks after it.
 */
public record Transaction(int seq, int index, int dataBlocks, int descOffset, int descBytes,
                          List<Descriptor> descriptors) {
    public Transaction {
        descriptors = List.copyOf(descriptors);
    }

    /** Ring blocks occupied: the descriptor block plus its data blocks. */
    public int blocks() {
        return 1 + dataBlocks;
    }

    /** True for a transaction of no-op descriptors only, e.g. the padding before a wraparound. */
    public boolean isNoOp() {
        return descriptors.stream().allMatch(d -> d instanceof Descriptor.NoOp);
    }
}
