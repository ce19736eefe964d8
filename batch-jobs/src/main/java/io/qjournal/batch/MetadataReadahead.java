package io.qjournal.batch;

import io.qjournal.qcow2.header.HeaderCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Reads the metadata of the images a few places ahead of the partitions (header, L1 and
 * refcount tables, the L2 tables and refcount blocks they point to), so that the page cache
 * holds them when a partition checks the image. A sweep is mostly small reads at scattered
 * places in many files; on a cold cache each partition would otherwise wait for its reads one
 * by one.
 *
 * <p>It only reads, takes no lock and trusts nothing: the fields it follows are bounded, and
 * an image it cannot make sense of is left to the check, which reports it.
 */
final class MetadataReadahead implements Runnable {
    /** How many images ahead of the partitions it may read. */
    static final int AHEAD = 16;
    /** At most this many table clusters of one image (the rest is read by the check itself). */
    static final int MAX_CLUSTERS_PER_IMAGE = 256;
    private static final long L1_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
    private static final long REFT_OFFSET_MASK = 0xffff_ffff_ffff_fe00L;

    private final List<String> images;
    private final ImageQueue.Progress progress;

    MetadataReadahead(List<String> images, ImageQueue.Progress progress) {
        this.images = images;
        this.progress = progress;
    }

    static void start(long executionId, List<String> images, ImageQueue.Progress progress) {
        if (images.size() < 2) {
            return;
        }
        Thread t = new Thread(new MetadataReadahead(images, progress), "qjournal-readahead-" + executionId);
        t.setDaemon(true);
        t.start();
    }

    @Override
    public void run() {
        try {
            for (int i = 0; i < images.size() && !progress.dropped(); i++) {
                if (!progress.awaitTakenAtLeast(i - AHEAD + 1)) {
                    return;
                }
                if (i >= progress.taken()) {
                    read(Path.of(images.get(i)));
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void read(Path image) {
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer head = ByteBuffer.allocate(HeaderCodec.COMPRESSION_TYPE_OFFSET);
            if (size < head.capacity() || ch.read(head, 0) < head.capacity()) {
                return;
            }
            int clusterBits = head.getInt(HeaderCodec.CLUSTER_BITS_OFFSET);
            if (clusterBits < HeaderCodec.MIN_CLUSTER_BITS || clusterBits > 21) {
                return;
            }
            int clusterSize = 1 << clusterBits;
            // As much of the header as the check reads first (HeaderCodec.readHeaderArea).
            ch.read(ByteBuffer.allocate((int) Math.min(clusterSize, HeaderCodec.HEADER_PROBE_BYTES)), 0);
            ByteBuffer cluster = ByteBuffer.allocate(clusterSize);
            long[] l1 = table(ch, size, head.getLong(HeaderCodec.L1_TABLE_OFFSET_OFFSET),
                    Integer.toUnsignedLong(head.getInt(HeaderCodec.L1_SIZE_OFFSET)) * 8);
            long[] reftable = table(ch, size, head.getLong(HeaderCodec.REFCOUNT_TABLE_OFFSET_OFFSET),
                    Integer.toUnsignedLong(head.getInt(HeaderCodec.REFCOUNT_TABLE_CLUSTERS_OFFSET)) << clusterBits);
            int budget = MAX_CLUSTERS_PER_IMAGE;
            budget = clusters(ch, size, l1, L1_OFFSET_MASK, cluster, budget);
            clusters(ch, size, reftable, REFT_OFFSET_MASK, cluster, budget);
        } catch (IOException | RuntimeException e) {
            // The check reads it again and reports what is wrong.
        }
    }

    /** A table of big-endian entries, at most 8 MiB and only what lies inside the file. */
    private static long[] table(FileChannel ch, long fileSize, long offset, long bytes) throws IOException {
        if (offset <= 0 || offset >= fileSize || bytes <= 0) {
            return new long[0];
        }
        int n = (int) (Math.min(Math.min(bytes, 8L << 20), fileSize - offset) / 8);
        ByteBuffer b = ByteBuffer.allocate(n * 8);
        ch.read(b, offset);
        b.flip();
        long[] t = new long[b.remaining() / 8];
        b.asLongBuffer().get(t);
        return t;
    }

    private static int clusters(FileChannel ch, long fileSize, long[] table, long mask, ByteBuffer cluster, int budget)
            throws IOException {
        for (long e : table) {
            long off = e & mask;
            if (off == 0 || off >= fileSize || (off & (cluster.capacity() - 1)) != 0) {
                continue;
            }
            if (budget-- <= 0) {
                return 0;
            }
            cluster.clear();
            ch.read(cluster, off);
        }
        return budget;
    }
}
