package io.qjournal.qcow2;

import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.refcount.RefcountBlock;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Lays out a new image as qemu-img create does: header in cluster 0, then the refcount table,
 * the refcount block(s) and the L1 table.
 */
final class ImageFormatter {
    private ImageFormatter() {
    }

    static void format(Storage storage, CreateOptions o, long size) throws IOException {
        String file = storage.name();
        int cs = o.clusterSize;
        if (Integer.bitCount(cs) != 1 || cs < 512 || cs > (2 << 20)) {
            throw new Qcow2Exception(file, "Cluster size must be a power of two between 512 and 2048k");
        }
        int refBits = o.refcountBits;
        if (Integer.bitCount(refBits) != 1 || refBits > 64) {
            throw new Qcow2Exception(file, "Refcount width must be a power of two and may not exceed 64 bits");
        }
        if (o.version == 2) {
            if (refBits != 16) {
                throw new Qcow2Exception(file, "Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
            }
            if (o.lazyRefcounts) {
                throw new Qcow2Exception(file, "Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
            }
            if (o.extendedL2) {
                throw new Qcow2Exception(file, "Extended L2 entries are only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
            }
            if (o.compressionType != Header.COMPRESSION_ZLIB) {
                throw new Qcow2Exception(file, "Non-zlib compression type is only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
            }
        }
        if (o.extendedL2 && cs < 16384) {
            throw new Qcow2Exception(file, "Extended L2 entries are only supported with cluster sizes of at least 16 KiB");
        }
        if (size < 0) {
            throw new Qcow2Exception(file, "Image creation needs a size parameter");
        }
        int clusterBits = Integer.numberOfTrailingZeros(cs);
        int order = Integer.numberOfTrailingZeros(refBits);
        long bytesPerL2 = (long) (cs / (o.extendedL2 ? 16 : 8)) * cs;
        long l1Entries = (size + bytesPerL2 - 1) / bytesPerL2;
        if (l1Entries * 8 > HeaderCodec.MAX_L1_BYTES || size > HeaderCodec.MAX_VIRTUAL_SIZE) {
            throw new Qcow2Exception(file, "The image size is too large for file format 'qcow2'"
                    + (cs < (2 << 20) ? " (try using a larger cluster size)" : ""));
        }
        long l1Clusters = Math.max(1, (l1Entries * 8 + cs - 1) / cs);
        long perBlock = RefcountBlock.entries(cs, order);
        long blocks = 1;
        long tableClusters = 1;
        while (true) {
            long total = 1 + tableClusters + blocks + l1Clusters;
            long b = (total + perBlock - 1) / perBlock;
            long t = (b * 8 + cs - 1) / cs;
            if (b == blocks && t == tableClusters) {
                break;
            }
            blocks = b;
            tableClusters = t;
        }
        long tableOffset = cs;
        long blocksOffset = tableOffset + tableClusters * cs;
        long l1Offset = blocksOffset + blocks * cs;
        long used = 1 + tableClusters + blocks + l1Clusters;

        Header.Builder h = new Header.Builder();
        h.version = o.version;
        h.clusterBits = clusterBits;
        h.size = size;
        h.l1Size = (int) l1Entries;
        h.l1TableOffset = l1Offset;
        h.refcountTableOffset = tableOffset;
        h.refcountTableClusters = (int) tableClusters;
        h.refcountOrder = order;
        h.headerLength = o.version == 2 ? Header.V2_LENGTH : Header.V3_LENGTH_WITH_COMPRESSION;
        h.compressionType = o.compressionType;
        h.set(Feature.COMPRESSION_TYPE, o.compressionType != Header.COMPRESSION_ZLIB);
        h.set(Feature.EXTENDED_L2, o.extendedL2);
        h.set(Feature.LAZY_REFCOUNTS, o.lazyRefcounts);
        List<HeaderExtension> exts = new ArrayList<>();
        if (o.backingFile != null) {
            h.backingFile = o.backingFile;
            if (o.backingFormat != null) {
                exts.add(new HeaderExtension(HeaderExtension.BACKING_FORMAT,
                        o.backingFormat.getBytes(StandardCharsets.UTF_8)));
            }
        }
        h.extensions = exts;
        byte[] header = HeaderCodec.encode(h.build());

        storage.truncate(0);
        storage.write(0, ByteBuffer.wrap(header));
        ByteBuffer table = ByteBuffer.allocate((int) (tableClusters * cs));
        for (long i = 0; i < blocks; i++) {
            table.putLong((int) (i * 8), blocksOffset + i * cs);
        }
        storage.write(tableOffset, table);
        byte[] block = new byte[cs];
        for (long i = 0; i < blocks; i++) {
            java.util.Arrays.fill(block, (byte) 0);
            for (long c = i * perBlock; c < Math.min(used, (i + 1) * perBlock); c++) {
                RefcountBlock.set(block, order, (int) (c - i * perBlock), 1);
            }
            storage.write(blocksOffset + i * cs, ByteBuffer.wrap(block));
        }
        // Like qemu-img, the file ends right after the L1 table's entries.
        storage.write(l1Offset, ByteBuffer.allocate((int) Math.max(8, l1Entries * 8)));
        storage.flush();
    }
}
