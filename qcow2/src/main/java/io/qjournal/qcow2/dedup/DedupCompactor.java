package io.qjournal.qcow2.dedup;

import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.Maintenance;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Deduplicates, zeroes and compacts one qcow2 image offline (the image is locked for the whole
 * run). Every metadata change goes through the journal, so a crash at any moment leaves an image
 * that replays to the same guest contents. How and why: docs/format/dedup.md.
 */
public final class DedupCompactor {
    private static final long JOURNAL_BYTES = 1L << 20;

    private DedupCompactor() {
    }

    public record Options(boolean dryRun) {
    }

    /**
     * Called as work advances (from the calling thread), with running totals: bytes of data
     * clusters read so far, and bytes of clusters freed so far by sharing and zeroing.
     */
    public interface Progress {
        void advanced(long bytesScanned, long bytesWon);

        Progress NONE = (scanned, won) -> { };
    }

    /**
     * Sizes are qemu-img's actual-size (bytes the file occupies on disk); in a dry run
     * {@code sizeAfter} is the estimate. {@code bytesFingerprinted}: bytes of non-zero candidate
     * clusters scanned (SHA-256 is computed only for the kept clusters). {@code bytesWon}: clusters freed by sharing and
     * zeroing, times the cluster size. {@code skipped}: what was left alone, and why.
     */
    public record Result(long sizeBefore, long sizeAfter, long clustersScanned, long duplicateClusters,
                         long zeroClusters, long movedClusters, long bytesFingerprinted, long bytesWon,
                         List<String> skipped) {
    }

    /**
     * Opens the image for writing (journal on, QEMU-compatible lock: ImageInUseException when
     * locked), deduplicates, turns zero clusters into zero/unallocated clusters, compacts,
     * closes cleanly and truncates the file. dryRun: reports what it would win, writes nothing.
     */
    public static Result run(Path image, Options options, Progress progress) throws IOException {
        Progress p = progress == null ? Progress.NONE : progress;
        long sizeBefore = Maintenance.allocatedBytes(image);
        Stats stats = new Stats();
        OpenOptions oo = options.dryRun() ? OpenOptions.readOnly().openBacking(false)
                : OpenOptions.readWrite().openBacking(false).journal(journalOptions(image)).journalAtEnd(true)
                        .preservesContents(true);
        long highestAfter;
        int cs;
        try (Qcow2Image img = Qcow2Image.open(image, oo)) {
            Header h = img.header();
            cs = h.clusterSize();
            boolean backing = h.backingFile() != null && !h.backingFile().isEmpty();
            try (Maintenance m = Maintenance.begin(img)) {
                try {
                    if (h.has(Feature.EXTERNAL_DATA_FILE)) {
                        throw new Qcow2Exception(img.name(), "images with an external data file are not deduplicated");
                    }
                    int sharedTables = ActiveL2.sharedTables(m.map());
                    if (sharedTables > 0) {
                        stats.skipped.add(sharedTables + " active L2 tables shared with a snapshot left alone");
                    }
                    new Deduplicator(m, stats, p, options.dryRun(), h.version(), backing).run(h.size());
                    Compactor c = new Compactor(m, stats, p, options.dryRun());
                    c.run(h.size());
                    highestAfter = c.highestAfter();
                } catch (IOException | RuntimeException e) {
                    // Half a step in the caches must never be committed: the image stops and the
                    // next open replays up to the last commit. With nothing pending, the clean
                    // close leaves an image QEMU can open at once.
                    if (!options.dryRun() && m.uncommitted()) {
                        m.abandon(e);
                    } else if (!options.dryRun() && stats.inconsistent == 0) {
                        // The journal of this run lies past the end: cut it off again.
                        m.truncateOnClose();
                    }
                    throw e;
                }
                if (!options.dryRun() && stats.inconsistent == 0) {
                    m.truncateOnClose();
                } else if (!options.dryRun()) {
                    // An entry pointing at a cluster without a refcount could lie past the cut.
                    stats.skipped.add("file not cut: the refcounts do not match the L2 entries");
                }
            }
        }
        long sizeAfter;
        if (options.dryRun()) {
            // Estimate: freed clusters leave the disk (sparse files make it a little optimistic),
            // and the file cannot end past its last cluster in use.
            sizeAfter = Math.max(0, Math.min(sizeBefore - stats.bytesWon, (highestAfter + 1) * cs));
        } else {
            sizeAfter = Maintenance.allocatedBytes(image);
        }
        return new Result(sizeBefore, sizeAfter, stats.clustersScanned, stats.duplicateClusters,
                stats.zeroClusters, stats.movedClusters, stats.bytesFingerprinted, stats.bytesWon, skippedList(stats));
    }

    /**
     * Version 3 images get a live journal (every step atomic). Version 2 cannot hold one: its
     * metadata is written in QEMU's order (refcounts before the L2 entries that use them, frees
     * after), so a crash can leak clusters but never lose or corrupt data.
     */
    private static JournalOptions journalOptions(Path image) throws IOException {
        // Version (bytes 4..7) and cluster_bits (20..23) are enough; the open validates the rest.
        byte[] head = new byte[24];
        try (java.io.InputStream in = Files.newInputStream(image)) {
            if (in.readNBytes(head, 0, head.length) < head.length) {
                throw new Qcow2Exception(image.toString(), "file is too short for a qcow2 header");
            }
        }
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(head);
        if (b.getInt(4) < 3) {
            return null;
        }
        int clusterBits = b.getInt(20);
        if (clusterBits < 9 || clusterBits > 21) {
            throw new Qcow2Exception(image.toString(), "cluster_bits " + clusterBits + " is not in 9..21");
        }
        // A small ring: it lies past the end of the file and is freed and cut off at close (a
        // large one may need a new refcount block behind it). Still, every transaction must fit:
        // one may carry a whole L2 table or refcount block, so 16 clusters at least.
        return JournalOptions.defaults().size(Math.max(JOURNAL_BYTES, 16L << clusterBits));
    }

    private static List<String> skippedList(Stats s) {
        List<String> out = new java.util.ArrayList<>();
        if (s.compressed > 0) {
            out.add(s.compressed + " compressed clusters left as they are");
        }
        if (s.shared > 0) {
            out.add(s.shared + " clusters already shared (refcount > 1: snapshots or an earlier run) not rehashed");
        }
        if (s.partial > 0) {
            out.add(s.partial + " partly allocated clusters (subclusters) left as they are");
        }
        if (s.inconsistent > 0) {
            out.add(s.inconsistent + " clusters whose refcount does not match their L2 entry left alone (run check)");
        }
        if (s.refcountFull > 0) {
            out.add(s.refcountFull + " duplicates not shared: the refcount width cannot count another reference");
        }
        if (s.fingerprintCollisions > 0) {
            out.add(s.fingerprintCollisions + " clusters not shared: their fingerprint matched an earlier cluster"
                    + " whose bytes differ");
        }
        out.addAll(s.skipped);
        return List.copyOf(out);
    }
}
