package io.qjournal.qcow2.dedup;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Deduplicates, zeroes and compacts one qcow2 image offline (the image is locked for the whole
 * run). Every metadata change goes through the journal, so a crash at any moment leaves an image
 * that replays to the same guest contents.
 */
public final class DedupCompactor {
    private DedupCompactor() {
    }

    public record Options(boolean dryRun) {
    }

    /** Called as work advances (from the calling thread). */
    public interface Progress {
        void advanced(long bytesScanned, long bytesWon);

        Progress NONE = (scanned, won) -> { };
    }

    public record Result(long sizeBefore, long sizeAfter, long clustersScanned, long duplicateClusters,
                         long zeroClusters, long movedClusters, long bytesHashed, long bytesWon,
                         List<String> skipped) {
    }

    /**
     * Opens the image for writing (journal on, QEMU-compatible lock: ImageInUseException when
     * locked), deduplicates, turns zero clusters into zero/unallocated clusters, compacts,
     * closes cleanly and truncates the file. dryRun: reports what it would win, writes nothing.
     */
    public static Result run(Path image, Options options, Progress progress) throws IOException {
        // Body lands in the following commits; the signature is fixed for the batch-jobs module.
        throw new UnsupportedOperationException("dedup-compaction not implemented yet");
    }
}
