package io.qjournal.cli;

import io.qjournal.qcow2.BlockDevice;
import io.qjournal.qcow2.BlockStatus;
import io.qjournal.qcow2.Qcow2Image;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Walks the backing chain the way qemu-img map's get_block_status does: the first layer that
 * decides a range (data or zero) wins; unallocated ranges fall through to the backing file;
 * past the end of a shorter backing file the range reads as zeros in the layer above.
 */
public final class ChainMapper {
    /** One map record; {@code offset} is -1 when QEMU would print no offset. */
    public record Entry(long start, long length, int depth, boolean present, boolean zero, boolean data,
            long offset, String file) {
        boolean mergeableWith(Entry next) {
            return length > 0 && zero == next.zero && data == next.data && depth == next.depth
                    && present == next.present && file.equals(next.file)
                    && (offset < 0) == (next.offset < 0)
                    && (offset < 0 || offset + length == next.offset)
                    && start + length == next.start;
        }

        Entry extend(long by) {
            return new Entry(start, length + by, depth, present, zero, data, offset, file);
        }
    }

    private final List<BlockDevice> layers = new ArrayList<>();
    private final java.util.Map<BlockDevice, Boolean> allHoles = new java.util.IdentityHashMap<>();

    public ChainMapper(BlockDevice top) {
        BlockDevice d = top;
        while (d != null) {
            layers.add(d);
            if (layers.size() > 256) {
                throw new CliException(top.name() + ": backing chain too long");
            }
            d = d instanceof Qcow2Image q ? q.backing() : null;
        }
    }

    public long size() {
        return layers.get(0).size();
    }

    /** The status of the range at {@code off}, at most {@code max} bytes. */
    public Entry status(long off, long max) throws IOException {
        long len = max;
        int depth = 0;
        while (true) {
            BlockDevice dev = layers.get(depth);
            if (!(dev instanceof Qcow2Image img)) {
                len = Math.min(len, dev.size() - off);
                if (allHoles.computeIfAbsent(dev, ChainMapper::isAllHoles)) {
                    return new Entry(off, len, depth, true, true, false, off, dev.name());
                }
                return new Entry(off, len, depth, true, false, true, off, dev.name());
            }
            BlockStatus bs = img.blockStatus(off, len);
            if (bs.length() <= 0 || bs.offset() != off) {
                throw new CliException(img.name() + ": block status returned an empty range at offset " + off);
            }
            len = Math.min(len, bs.length());
            if (bs.allocated() || bs.data()) {
                long host = bs.data() || bs.zero() ? bs.hostOffset() : -1;
                if (bs.compressed()) {
                    host = -1;
                }
                return new Entry(off, len, depth, bs.allocated(), bs.zero(), bs.data(), host, dev.name());
            }
            BlockDevice next = depth + 1 < layers.size() ? layers.get(depth + 1) : null;
            if (next == null || off >= next.size()) {
                // Unallocated subclusters of an allocated cluster keep their host offset (QEMU's
                // QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC reports OFFSET_VALID).
                long host = bs.compressed() ? -1 : bs.hostOffset();
                return new Entry(off, len, depth, false, true, false, host, dev.name());
            }
            len = Math.min(len, next.size() - off);
            depth++;
        }
    }

    /**
     * QEMU maps raw files with SEEK_DATA/SEEK_HOLE, which Java cannot call; a file with no
     * blocks at all is one hole, anything else is reported as data.
     */
    private static boolean isAllHoles(BlockDevice dev) {
        try {
            java.nio.file.Path p = java.nio.file.Path.of(dev.name());
            return dev.size() > 0 && java.nio.file.Files.isRegularFile(p) && Images.allocatedBytes(p) == 0;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Calls {@code sink} with merged records covering [start, end), as qemu-img map merges them. */
    public void forEach(long start, long end, Sink sink) throws IOException {
        Entry cur = null;
        long off = start;
        while (off < end) {
            Entry e = status(off, Math.min(end - off, 1L << 30));
            if (cur != null && cur.mergeableWith(e)) {
                cur = cur.extend(e.length());
            } else {
                if (cur != null) {
                    sink.accept(cur, e);
                }
                cur = e;
            }
            off += e.length();
        }
        if (cur != null) {
            sink.accept(cur, null);
        }
    }

    @FunctionalInterface
    public interface Sink {
        void accept(Entry e, Entry next) throws IOException;
    }
}
