package io.qjournal.qcow2.meta;

import java.io.IOException;
import java.util.List;

/**
 * The one place every metadata update (L1, L2, refcount table and blocks, header) passes
 * through, so the journal can own its ordering.
 *
 * <p>Contract of {@link #writeStages}: when it returns, every stage is durable, and so is every
 * guest data write issued before the call; after a crash at any point, each stage is either
 * visible only if all earlier stages (and that data) are durable ({@link DirectMetadataWriter}:
 * a flush between stages, as QEMU orders refcounts before L2 tables before L1), or the stages
 * are visible all together or not at all (the journal).
 */
public interface MetadataWriter {
    void writeStages(List<List<MetaWrite>> stages) throws IOException;

    /**
     * True when all stages of one call become durable atomically, so cluster frees need not
     * wait for the references to them to be durably gone.
     */
    boolean atomic();

    /**
     * Applies updates this writer holds that are not yet at their home location to metadata
     * just read from there (a journal between commit and checkpoint). Default: nothing held.
     */
    default void overlayUnsynced(long offset, byte[] data) {
    }

    /**
     * End of the highest update this writer holds that is not yet at home: metadata there
     * exists although the file does not reach it yet. Default: nothing held.
     */
    default long unsyncedEnd() {
        return 0;
    }

    /** Makes earlier guest data writes durable when there is no metadata to write. */
    void flushData() throws IOException;
}
