package io.qjournal.qcow2.bitmap;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.storage.Extent;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The persistent dirty bitmaps of an image: the bitmaps header extension, the bitmap
 * directory it points to, and each bitmap's table (docs/format/qcow2.md). Read-only; it exists
 * so the checker (and later the engine) can account for the clusters bitmaps occupy. Every
 * check QEMU's qcow2-bitmap.c makes when loading the directory is made here, and a failure is
 * one {@link Qcow2Exception} line.
 */
public final class BitmapDirectory {
    /** QEMU's QCOW2_MAX_BITMAPS and QCOW2_MAX_BITMAP_DIRECTORY_SIZE. */
    public static final int MAX_BITMAPS = 65535;
    public static final long MAX_DIRECTORY_SIZE = 1024L * MAX_BITMAPS;
    /** QEMU's BME_* limits. */
    public static final int MAX_TABLE_SIZE = 0x800_0000;
    public static final long MAX_PHYS_SIZE = 0x2000_0000L;
    public static final int MIN_GRANULARITY_BITS = 9;
    public static final int MAX_GRANULARITY_BITS = 31;
    public static final int MAX_NAME_SIZE = 1023;
    public static final int FLAG_IN_USE = 1;
    public static final int FLAG_AUTO = 2;
    public static final int RESERVED_FLAGS = ~(FLAG_IN_USE | FLAG_AUTO);
    public static final int TYPE_DIRTY_TRACKING = 1;
    public static final long TABLE_ENTRY_RESERVED_MASK = 0xff00_0000_0000_01feL;
    public static final long TABLE_ENTRY_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
    public static final long TABLE_ENTRY_ALL_ONES = 1L;
    static final int ENTRY_HEADER_SIZE = 24;
    static final int EXTENSION_SIZE = 24;

    /** The bitmaps header extension. */
    public record Extension(int nbBitmaps, long directorySize, long directoryOffset) {
    }

    /** A directory entry with its loaded bitmap table (raw entries). */
    public record Entry(long tableOffset, int tableSize, int flags, int type, int granularityBits, String name,
            long[] table) {
        public Entry {
            table = table.clone();
        }

        @Override
        public long[] table() {
            return table.clone();
        }

        public boolean inUse() {
            return (flags & FLAG_IN_USE) != 0;
        }

        /** Host offsets of the bitmap's data clusters (entries that are neither 0 nor all-ones). */
        public List<Long> dataClusters() {
            List<Long> out = new ArrayList<>();
            for (long t : table) {
                long off = t & TABLE_ENTRY_OFFSET_MASK;
                if (off != 0) {
                    out.add(off);
                }
            }
            return out;
        }
    }

    private static final BitmapDirectory EMPTY = new BitmapDirectory(null, List.of(), 0);

    private final Extension extension;
    private final List<Entry> entries;
    private final int clusterSize;

    private BitmapDirectory(Extension extension, List<Entry> entries, int clusterSize) {
        this.extension = extension;
        this.entries = List.copyOf(entries);
        this.clusterSize = clusterSize;
    }

    public static BitmapDirectory empty() {
        return EMPTY;
    }

    /** The extension, or null: absent, or ignored because the autoclear bitmaps bit is clear. */
    public Extension extension() {
        return extension;
    }

    public List<Entry> entries() {
        return entries;
    }

    /**
     * Everything bitmaps occupy, as byte ranges: the directory, each bitmap
     * table and each bitmap data cluster. Lengths are in bytes, not rounded to clusters.
     */
    public List<Extent> occupiedRanges() {
        List<Extent> out = new ArrayList<>();
        if (extension == null) {
            return out;
        }
        out.add(new Extent(extension.directoryOffset(), extension.directorySize()));
        for (Entry e : entries) {
            out.add(new Extent(e.tableOffset(), (long) e.tableSize() * 8));
            for (long off : e.dataClusters()) {
                out.add(new Extent(off, clusterSize));
            }
        }
        return out;
    }

    /**
     * Parses and checks the extension as QEMU's qcow2_read_extensions does. Returns null when
     * there is none, or when the autoclear bitmaps bit is clear (a program without bitmap
     * support changed the image, so QEMU ignores the bitmaps).
     */
    public static Extension parseExtension(Header h, String file) throws Qcow2Exception {
        HeaderExtension ext = h.extension(HeaderExtension.BITMAPS);
        if (ext == null || !h.has(Feature.BITMAPS)) {
            return null;
        }
        byte[] d = ext.data();
        if (d.length < EXTENSION_SIZE) {
            throw new Qcow2Exception(file, "bitmaps extension is " + d.length + " bytes long (at least 24 expected)");
        }
        ByteBuffer b = ByteBuffer.wrap(d);
        int nb = b.getInt(0);
        int reserved = b.getInt(4);
        long dirSize = b.getLong(8);
        long dirOffset = b.getLong(16);
        if (reserved != 0) {
            throw new Qcow2Exception(file, "bitmaps extension has non-zero reserved field");
        }
        if (Integer.toUnsignedLong(nb) > MAX_BITMAPS) {
            throw new Qcow2Exception(file, "image has " + Integer.toUnsignedString(nb)
                    + " bitmaps, more than the supported " + MAX_BITMAPS);
        }
        if (nb == 0) {
            throw new Qcow2Exception(file, "found bitmaps extension with zero bitmaps");
        }
        if (dirOffset < 0 || (dirOffset & (h.clusterSize() - 1)) != 0) {
            throw new Qcow2Exception(file, "invalid bitmap directory offset 0x" + Long.toHexString(dirOffset));
        }
        if (dirSize < 0 || dirSize > MAX_DIRECTORY_SIZE) {
            throw new Qcow2Exception(file, "bitmap directory size (" + Long.toUnsignedString(dirSize)
                    + ") exceeds the maximum supported size (" + MAX_DIRECTORY_SIZE + ")");
        }
        return new Extension(nb, dirSize, dirOffset);
    }

    /** Reads the directory and all bitmap tables; {@link #empty()} when the image has no (valid-flagged) bitmaps. */
    public static BitmapDirectory read(Storage s, Header h) throws IOException {
        String file = s.name();
        Extension ext = parseExtension(h, file);
        if (ext == null) {
            return EMPTY;
        }
        int clusterSize = h.clusterSize();
        long fileSize = s.size();
        if (ext.directorySize() == 0) {
            throw new Qcow2Exception(file, "bitmap directory size is zero");
        }
        if (ext.directoryOffset() == 0 || ext.directoryOffset() > fileSize
                || ext.directorySize() > fileSize - ext.directoryOffset()) {
            throw new Qcow2Exception(file, "bitmap directory at 0x" + Long.toHexString(ext.directoryOffset())
                    + " (" + ext.directorySize() + " bytes) lies outside the file");
        }
        byte[] dir = new byte[(int) ext.directorySize()];
        s.read(ext.directoryOffset(), dir, 0, dir.length);
        ByteBuffer b = ByteBuffer.wrap(dir);
        List<Entry> entries = new ArrayList<>();
        int pos = 0;
        while (pos < dir.length) {
            if (pos + ENTRY_HEADER_SIZE > dir.length) {
                throw new Qcow2Exception(file, "broken bitmap directory (entry " + entries.size() + " is truncated)");
            }
            if (entries.size() + 1 > Integer.toUnsignedLong(ext.nbBitmaps())) {
                throw new Qcow2Exception(file, "more bitmaps found than specified in the header extension ("
                        + ext.nbBitmaps() + ")");
            }
            long tableOffset = b.getLong(pos);
            int tableSize = b.getInt(pos + 8);
            int flags = b.getInt(pos + 12);
            int type = b.get(pos + 16) & 0xff;
            int granularity = b.get(pos + 17) & 0xff;
            int nameSize = b.getShort(pos + 18) & 0xffff;
            long extraSize = Integer.toUnsignedLong(b.getInt(pos + 20));
            long entrySize = (ENTRY_HEADER_SIZE + nameSize + extraSize + 7) & ~7L;
            if (pos + entrySize > dir.length) {
                throw new Qcow2Exception(file, "broken bitmap directory (entry " + entries.size() + " runs past its end)");
            }
            if (extraSize != 0) {
                throw new Qcow2Exception(file, "bitmap extra data is not supported (entry " + entries.size() + ")");
            }
            String name = new String(dir, pos + ENTRY_HEADER_SIZE, nameSize, StandardCharsets.UTF_8);
            checkEntry(h, file, name, tableOffset, tableSize, flags, type, granularity, nameSize);
            long[] table = readTable(s, file, name, tableOffset, tableSize, clusterSize, fileSize);
            entries.add(new Entry(tableOffset, tableSize, flags, type, granularity, name, table));
            pos += (int) entrySize;
        }
        if (entries.size() != ext.nbBitmaps()) {
            throw new Qcow2Exception(file, "fewer bitmaps found (" + entries.size()
                    + ") than specified in the header extension (" + ext.nbBitmaps() + ")");
        }
        return new BitmapDirectory(ext, entries, clusterSize);
    }

    /** QEMU's check_dir_entry. */
    private static void checkEntry(Header h, String file, String name, long tableOffset, int tableSize, int flags,
            int type, int granularity, int nameSize) throws Qcow2Exception {
        int clusterSize = h.clusterSize();
        boolean bad = tableSize == 0 || tableOffset == 0 || (tableOffset & (clusterSize - 1)) != 0
                || Integer.toUnsignedLong(tableSize) > MAX_TABLE_SIZE
                || granularity > MAX_GRANULARITY_BITS || granularity < MIN_GRANULARITY_BITS
                || (flags & RESERVED_FLAGS) != 0 || nameSize > MAX_NAME_SIZE || type != TYPE_DIRTY_TRACKING;
        long physBytes = Integer.toUnsignedLong(tableSize) * clusterSize;
        if (!bad && physBytes > MAX_PHYS_SIZE) {
            bad = true;
        }
        if (!bad && (flags & FLAG_IN_USE) == 0) {
            // The table must be large enough for the whole disk: bits * granularity >= virtual size.
            long bits = physBytes * 8;
            boolean covers = Long.numberOfLeadingZeros(bits) <= granularity + 1 || (bits << granularity) >= h.size();
            bad = !covers;
        }
        if (bad) {
            throw new Qcow2Exception(file, "bitmap '" + name + "' doesn't satisfy the constraints");
        }
    }

    /** Loads a bitmap table; entries past the end of the file read as zero, so only the file bounds the work. */
    private static long[] readTable(Storage s, String file, String name, long offset, int size, int clusterSize,
            long fileSize) throws IOException {
        long bytes = (long) size * 8;
        long avail = Math.max(0, Math.min(bytes, fileSize - offset));
        long[] table = new long[(int) (avail / 8)];
        if (table.length > 0) {
            ByteBuffer b = ByteBuffer.allocate(table.length * 8);
            s.read(offset, b);
            b.flip();
            for (int i = 0; i < table.length; i++) {
                long e = b.getLong();
                if ((e & TABLE_ENTRY_RESERVED_MASK) != 0
                        || ((e & TABLE_ENTRY_OFFSET_MASK) != 0
                            && ((e & TABLE_ENTRY_ALL_ONES) != 0 || ((e & TABLE_ENTRY_OFFSET_MASK) % clusterSize) != 0))) {
                    throw new Qcow2Exception(file, "bitmap '" + name + "' table entry " + i + " (0x"
                            + Long.toHexString(e) + ") is invalid");
                }
                table[i] = e;
            }
        }
        return table;
    }
}
