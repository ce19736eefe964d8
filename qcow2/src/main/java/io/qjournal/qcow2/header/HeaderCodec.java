package io.qjournal.qcow2.header;

import io.qjournal.qcow2.Qcow2Exception;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Decodes and encodes the header cluster. Every field is range-checked against the limits
 * QEMU's qcow2_do_open() enforces, and against the file size, before anything uses it.
 */
public final class HeaderCodec {
    public static final int MAGIC_OFFSET = 0;
    public static final int VERSION_OFFSET = 4;
    public static final int BACKING_FILE_OFFSET_OFFSET = 8;
    public static final int BACKING_FILE_SIZE_OFFSET = 16;
    public static final int CLUSTER_BITS_OFFSET = 20;
    public static final int SIZE_OFFSET = 24;
    public static final int CRYPT_METHOD_OFFSET = 32;
    public static final int L1_SIZE_OFFSET = 36;
    public static final int L1_TABLE_OFFSET_OFFSET = 40;
    public static final int REFCOUNT_TABLE_OFFSET_OFFSET = 48;
    public static final int REFCOUNT_TABLE_CLUSTERS_OFFSET = 56;
    public static final int NB_SNAPSHOTS_OFFSET = 60;
    public static final int SNAPSHOTS_OFFSET_OFFSET = 64;
    public static final int INCOMPATIBLE_FEATURES_OFFSET = 72;
    public static final int COMPATIBLE_FEATURES_OFFSET = 80;
    public static final int AUTOCLEAR_FEATURES_OFFSET = 88;
    public static final int REFCOUNT_ORDER_OFFSET = 96;
    public static final int HEADER_LENGTH_OFFSET = 100;
    public static final int COMPRESSION_TYPE_OFFSET = 104;

    public static final int MIN_CLUSTER_BITS = 9;
    public static final int MAX_CLUSTER_BITS = 21;
    public static final int MAX_BACKING_FILE_NAME = 1023;
    /** QEMU's QCOW_MAX_REFTABLE_SIZE and QCOW_MAX_L1_SIZE, in bytes. */
    public static final long MAX_REFTABLE_BYTES = 8L << 20;
    public static final long MAX_L1_BYTES = 32L << 20;
    public static final int MAX_SNAPSHOTS = 65536;
    /** Host offsets in L1/L2/refcount entries hold at most 56 bits. */
    public static final long MAX_OFFSET = (1L << 56) - 1;
    public static final long MAX_VIRTUAL_SIZE = 1L << 62;

    private HeaderCodec() {
    }

    /** How much of the header cluster {@link #readHeaderArea} reads first. */
    public static final int HEADER_PROBE_BYTES = 4096;

    /** A positioned read of a file (a Storage's or a channel's). */
    @FunctionalInterface
    public interface PositionedRead {
        void read(long offset, byte[] dst, int off, int len) throws java.io.IOException;
    }

    /**
     * Reads what {@link #decode} needs of the header cluster: its first 4 KiB when the header,
     * its extensions up to their end marker and the backing file name all lie in them (nearly
     * always), else the whole cluster. Why not always the cluster: a 64 KiB read at the start of
     * a file is what the kernel takes for the start of a sequential read, and its readahead
     * then fetched several times more of every image a sweep checked than the check itself
     * reads; QEMU reads the header in small pieces.
     */
    public static byte[] readHeaderArea(long fileSize, int clusterSize, PositionedRead read)
            throws java.io.IOException {
        int whole = (int) Math.min(fileSize, clusterSize);
        int first = Math.min(whole, HEADER_PROBE_BYTES);
        byte[] probe = new byte[first];
        read.read(0, probe, 0, first);
        if (first == whole || probeSuffices(probe, clusterSize)) {
            return probe;
        }
        byte[] cluster = new byte[whole];
        read.read(0, cluster, 0, whole);
        return cluster;
    }

    /**
     * Whether {@link #decode} of {@code probe}, the first bytes of the header cluster, gives what
     * decoding the whole cluster gives: the header lies in it, and either the backing file name
     * does (extensions end where it begins) or, without one, the extension chain's end marker.
     */
    static boolean probeSuffices(byte[] probe, int clusterSize) {
        if (probe.length < Header.V3_LENGTH) {
            return false;
        }
        ByteBuffer b = ByteBuffer.wrap(probe);
        int version = b.getInt(VERSION_OFFSET);
        long headerLength = version == 2 ? Header.V2_LENGTH : Integer.toUnsignedLong(b.getInt(HEADER_LENGTH_OFFSET));
        if (headerLength > probe.length) {
            return false;
        }
        long backingOffset = b.getLong(BACKING_FILE_OFFSET_OFFSET);
        if (backingOffset != 0) {
            long size = Integer.toUnsignedLong(b.getInt(BACKING_FILE_SIZE_OFFSET));
            return backingOffset > 0 && backingOffset < clusterSize && backingOffset + size <= probe.length;
        }
        long pos = headerLength;
        while (pos + 8 <= probe.length) {
            int type = b.getInt((int) pos);
            long len = Integer.toUnsignedLong(b.getInt((int) pos + 4));
            if (type == HeaderExtension.END) {
                return true;
            }
            pos += 8 + ((len + 7) & ~7L);
        }
        return false;
    }

    /**
     * Reads and decodes the header of the image held by {@code storage}: its first bytes for the
     * cluster size, then {@link #readHeaderArea}, then {@link #decode}. Every reader of a header
     * (open, check, batch jobs, CLI, daemon) goes through here, so all refuse the same files with
     * the same words.
     */
    public static Header read(io.qjournal.qcow2.storage.Storage storage) throws java.io.IOException {
        String file = storage.name();
        long fileSize = storage.size();
        if (fileSize < Header.V2_LENGTH) {
            throw new Qcow2Exception(file, fileSize == 0 ? "image is empty (0 bytes)"
                    : "image is too short to hold a qcow2 header (" + fileSize + " bytes)");
        }
        byte[] first = new byte[(int) Math.min(fileSize, 512)];
        storage.read(0, first, 0, first.length);
        int clusterSize = peekClusterSize(first, file);
        return decode(readHeaderArea(fileSize, clusterSize, storage::read), fileSize, file);
    }

    /** Size of the buffer {@link #decode} wants: the header cluster is at most 2 MiB. */
    public static int peekClusterSize(byte[] first, String file) throws Qcow2Exception {
        if (first.length < Header.V2_LENGTH) {
            throw new Qcow2Exception(file, "image is too short to hold a qcow2 header");
        }
        ByteBuffer b = ByteBuffer.wrap(first);
        if (b.getInt(MAGIC_OFFSET) != Header.MAGIC) {
            throw new Qcow2Exception(file, "not a qcow2 image (bad magic)");
        }
        int bits = b.getInt(CLUSTER_BITS_OFFSET);
        if (bits < MIN_CLUSTER_BITS || bits > MAX_CLUSTER_BITS) {
            throw new Qcow2Exception(file, "unsupported cluster size: 2^" + Integer.toUnsignedString(bits)
                    + " (cluster_bits must be 9..21)");
        }
        return 1 << bits;
    }

    /**
     * Decodes the header from the first cluster of the file.
     *
     * @param cluster the first cluster (or the whole file if it is shorter)
     * @param fileSize the file's size, to reject tables that lie beyond it
     */
    public static Header decode(byte[] cluster, long fileSize, String file) throws Qcow2Exception {
        int clusterSize = peekClusterSize(cluster, file);
        ByteBuffer b = ByteBuffer.wrap(cluster);
        Header.Builder h = new Header.Builder();
        h.version = b.getInt(VERSION_OFFSET);
        if (h.version != 2 && h.version != 3) {
            throw new Qcow2Exception(file, "unsupported qcow2 version " + Integer.toUnsignedString(h.version));
        }
        h.clusterBits = b.getInt(CLUSTER_BITS_OFFSET);
        h.backingFileOffset = b.getLong(BACKING_FILE_OFFSET_OFFSET);
        h.backingFileSize = b.getInt(BACKING_FILE_SIZE_OFFSET);
        h.size = b.getLong(SIZE_OFFSET);
        h.cryptMethod = b.getInt(CRYPT_METHOD_OFFSET);
        h.l1Size = b.getInt(L1_SIZE_OFFSET);
        h.l1TableOffset = b.getLong(L1_TABLE_OFFSET_OFFSET);
        h.refcountTableOffset = b.getLong(REFCOUNT_TABLE_OFFSET_OFFSET);
        h.refcountTableClusters = b.getInt(REFCOUNT_TABLE_CLUSTERS_OFFSET);
        h.nbSnapshots = b.getInt(NB_SNAPSHOTS_OFFSET);
        h.snapshotsOffset = b.getLong(SNAPSHOTS_OFFSET_OFFSET);
        if (h.version == 2) {
            h.refcountOrder = 4;
            h.headerLength = Header.V2_LENGTH;
        } else {
            if (cluster.length < Header.V3_LENGTH) {
                throw new Qcow2Exception(file, "image is too short to hold a version 3 header");
            }
            h.incompatibleFeatures = b.getLong(INCOMPATIBLE_FEATURES_OFFSET);
            h.compatibleFeatures = b.getLong(COMPATIBLE_FEATURES_OFFSET);
            h.autoclearFeatures = b.getLong(AUTOCLEAR_FEATURES_OFFSET);
            h.refcountOrder = b.getInt(REFCOUNT_ORDER_OFFSET);
            h.headerLength = b.getInt(HEADER_LENGTH_OFFSET);
            if (h.headerLength < Header.V3_LENGTH) {
                throw new Qcow2Exception(file, "qcow2 header too short (header_length "
                        + Integer.toUnsignedString(h.headerLength) + " < 104)");
            }
            if (Integer.toUnsignedLong(h.headerLength) > clusterSize) {
                throw new Qcow2Exception(file, "qcow2 header exceeds cluster size (header_length "
                        + Integer.toUnsignedString(h.headerLength) + ")");
            }
            if (h.headerLength > cluster.length) {
                throw new Qcow2Exception(file, "image is truncated inside its header");
            }
            if (h.headerLength > Header.V3_LENGTH) {
                h.compressionType = b.get(COMPRESSION_TYPE_OFFSET) & 0xff;
            }
            if (h.headerLength > Header.V3_LENGTH_WITH_COMPRESSION) {
                byte[] extra = new byte[h.headerLength - Header.V3_LENGTH_WITH_COMPRESSION];
                b.get(Header.V3_LENGTH_WITH_COMPRESSION, extra);
                h.unknownHeaderFields = extra;
            }
        }
        validateFields(h, clusterSize, fileSize, file);
        h.extensions = decodeExtensions(b, h, clusterSize, file);
        h.backingFile = decodeBackingFile(b, h, clusterSize, file);
        return h.build();
    }

    private static void validateFields(Header.Builder h, int clusterSize, long fileSize, String file)
            throws Qcow2Exception {
        if (h.refcountOrder < 0 || h.refcountOrder > 6) {
            throw new Qcow2Exception(file, "refcount_order " + Integer.toUnsignedString(h.refcountOrder)
                    + " is out of range (0..6)");
        }
        if (h.cryptMethod != 0) {
            throw new Qcow2Exception(file, "encrypted images are not supported (crypt_method "
                    + Integer.toUnsignedString(h.cryptMethod) + (h.cryptMethod == 1 ? ", AES" : h.cryptMethod == 2 ? ", LUKS" : "") + ")");
        }
        if (h.size < 0 || h.size > MAX_VIRTUAL_SIZE) {
            throw new Qcow2Exception(file, "virtual size " + Long.toUnsignedString(h.size) + " is too large");
        }
        boolean compressionBit = (h.incompatibleFeatures & Feature.COMPRESSION_TYPE.mask()) != 0;
        if (h.compressionType != Header.COMPRESSION_ZLIB && !compressionBit) {
            throw new Qcow2Exception(file, "compression_type " + h.compressionType
                    + " is set but the compression type feature bit is not");
        }
        if (compressionBit && h.compressionType == Header.COMPRESSION_ZLIB) {
            throw new Qcow2Exception(file, "the compression type feature bit is set but compression_type is zlib");
        }
        if (h.compressionType > Header.COMPRESSION_ZSTD) {
            throw new Qcow2Exception(file, "unknown compression_type " + h.compressionType);
        }
        // Refcount table.
        if (h.refcountTableClusters == 0 || Integer.toUnsignedLong(h.refcountTableClusters) * clusterSize > MAX_REFTABLE_BYTES) {
            throw new Qcow2Exception(file, "refcount_table_clusters " + Integer.toUnsignedString(h.refcountTableClusters)
                    + " is out of range");
        }
        validateTable(h.refcountTableOffset, (long) h.refcountTableClusters * clusterSize, clusterSize, fileSize,
                "refcount table", file);
        // L1 table.
        if (h.l1Size < 0 || (long) h.l1Size * 8 > MAX_L1_BYTES) {
            throw new Qcow2Exception(file, "L1 table is too large (l1_size " + Integer.toUnsignedString(h.l1Size) + ")");
        }
        int entryBytes = (h.incompatibleFeatures & Feature.EXTENDED_L2.mask()) != 0 ? 16 : 8;
        long bytesPerL2 = (long) (clusterSize / entryBytes) * clusterSize;
        long needed = (h.size + bytesPerL2 - 1) / bytesPerL2;
        if (h.l1Size < needed) {
            throw new Qcow2Exception(file, "L1 table is too small for the virtual size (l1_size "
                    + h.l1Size + ", needs " + needed + ")");
        }
        if (h.l1Size > 0) {
            validateTable(h.l1TableOffset, (long) h.l1Size * 8, clusterSize, fileSize, "L1 table", file);
        }
        // Snapshot table.
        if (h.nbSnapshots < 0 || h.nbSnapshots > MAX_SNAPSHOTS) {
            throw new Qcow2Exception(file, "too many snapshots (nb_snapshots " + Integer.toUnsignedString(h.nbSnapshots) + ")");
        }
        if (h.nbSnapshots > 0) {
            // Each entry is at least 40 bytes; the exact size is checked when the table is read.
            validateTable(h.snapshotsOffset, (long) h.nbSnapshots * 40, clusterSize, fileSize, "snapshot table", file);
        }
    }

    /** Checks a table's offset: cluster-aligned, no overflow, inside the file. */
    public static void validateTable(long offset, long bytes, int clusterSize, long fileSize, String what,
            String file) throws Qcow2Exception {
        if (offset <= 0 || (offset & (clusterSize - 1)) != 0) {
            throw new Qcow2Exception(file, what + " offset 0x" + Long.toHexString(offset)
                    + " is not aligned to a cluster");
        }
        if (offset > MAX_OFFSET || bytes > MAX_OFFSET - offset) {
            throw new Qcow2Exception(file, what + " at 0x" + Long.toHexString(offset) + " overflows the image");
        }
        if (offset + bytes > fileSize) {
            throw new Qcow2Exception(file, what + " at 0x" + Long.toHexString(offset) + " (" + bytes
                    + " bytes) lies beyond the end of the file (" + fileSize + " bytes)");
        }
    }

    private static List<HeaderExtension> decodeExtensions(ByteBuffer b, Header.Builder h, int clusterSize,
            String file) throws Qcow2Exception {
        List<HeaderExtension> exts = new ArrayList<>();
        long end = h.backingFileOffset != 0 ? Math.min(h.backingFileOffset, clusterSize) : clusterSize;
        end = Math.min(end, b.capacity());
        int pos = h.headerLength;
        while (pos + 8 <= end) {
            int type = b.getInt(pos);
            long len = Integer.toUnsignedLong(b.getInt(pos + 4));
            pos += 8;
            if (type == HeaderExtension.END) {
                break;
            }
            if (len > end - pos) {
                throw new Qcow2Exception(file, String.format(
                        "header extension 0x%08x is %d bytes long and runs past the header cluster", type, len));
            }
            byte[] data = new byte[(int) len];
            b.get(pos, data);
            exts.add(new HeaderExtension(type, data));
            pos += (int) ((len + 7) & ~7L);
        }
        return exts;
    }

    private static String decodeBackingFile(ByteBuffer b, Header.Builder h, int clusterSize, String file)
            throws Qcow2Exception {
        if (h.backingFileOffset == 0) {
            return null;
        }
        long size = Integer.toUnsignedLong(h.backingFileSize);
        if (size > MAX_BACKING_FILE_NAME) {
            throw new Qcow2Exception(file, "backing file name is too long (" + size + " bytes, at most 1023)");
        }
        if (h.backingFileOffset < 0 || h.backingFileOffset > clusterSize || h.backingFileOffset + size > clusterSize) {
            throw new Qcow2Exception(file, "backing file name at offset " + Long.toUnsignedString(h.backingFileOffset)
                    + " lies outside the header cluster");
        }
        if (h.backingFileOffset + size > b.capacity()) {
            throw new Qcow2Exception(file, "image is truncated inside its backing file name");
        }
        byte[] name = new byte[(int) size];
        b.get((int) h.backingFileOffset, name);
        return new String(name, StandardCharsets.UTF_8);
    }

    /**
     * Encodes the header cluster: header fields, extensions in QEMU's order (backing format,
     * external data file, encryption, feature name table, bitmaps, then unknown extensions byte
     * for byte), the end marker and the backing file name. The feature name table is rewritten
     * with our entries, and dropped when it does not fit, as QEMU does for 512-byte clusters.
     */
    public static byte[] encode(Header h) throws Qcow2Exception {
        int clusterSize = h.clusterSize();
        List<FeatureNameTable.Entry> existing = List.of();
        HeaderExtension oldTable = h.extension(HeaderExtension.FEATURE_NAME_TABLE);
        if (oldTable != null) {
            existing = FeatureNameTable.decode(oldTable.data());
        }
        boolean journal = h.has(Feature.JOURNAL_VALID) || h.has(Feature.JOURNAL_DIRTY);
        byte[] table = FeatureNameTable.encode(FeatureNameTable.merged(existing, journal));
        // qemu-img 7.2 writes no feature name table for clusters of 4 KiB and less; we do the
        // same, except while a journal is present, so that QEMU can name "journal dirty".
        boolean withTable = h.version() == 3 && (clusterSize > 4096 || journal);
        byte[] out = encodeWith(h, withTable ? table : null);
        if (out.length > clusterSize && h.version() == 3) {
            out = encodeWith(h, null);
        }
        if (out.length > clusterSize) {
            throw new Qcow2Exception("header", "header, extensions and backing file name ("
                    + out.length + " bytes) do not fit in one " + clusterSize + "-byte cluster");
        }
        return out;
    }

    private static byte[] encodeWith(Header h, byte[] featureTable) {
        int headerLength = h.version() == 2 ? Header.V2_LENGTH : h.headerLength();
        List<HeaderExtension> ordered = new ArrayList<>();
        int[] order = {HeaderExtension.BACKING_FORMAT, HeaderExtension.EXTERNAL_DATA_FILE,
            HeaderExtension.FULL_DISK_ENCRYPTION};
        for (int t : order) {
            HeaderExtension e = h.extension(t);
            if (e != null) {
                ordered.add(e);
            }
        }
        if (featureTable != null) {
            ordered.add(new HeaderExtension(HeaderExtension.FEATURE_NAME_TABLE, featureTable));
        }
        HeaderExtension bitmaps = h.extension(HeaderExtension.BITMAPS);
        if (bitmaps != null) {
            ordered.add(bitmaps);
        }
        for (HeaderExtension e : h.extensions()) {
            int t = e.type();
            if (t != HeaderExtension.BACKING_FORMAT && t != HeaderExtension.EXTERNAL_DATA_FILE
                    && t != HeaderExtension.FULL_DISK_ENCRYPTION && t != HeaderExtension.FEATURE_NAME_TABLE
                    && t != HeaderExtension.BITMAPS) {
                ordered.add(e);
            }
        }
        byte[] backing = h.backingFile() == null ? new byte[0] : h.backingFile().getBytes(StandardCharsets.UTF_8);
        int extBytes = 8;
        for (HeaderExtension e : ordered) {
            extBytes += e.encodedSize();
        }
        int total = headerLength + extBytes + backing.length;
        ByteBuffer b = ByteBuffer.allocate(total);
        b.putInt(MAGIC_OFFSET, Header.MAGIC);
        b.putInt(VERSION_OFFSET, h.version());
        long backingOffset = backing.length == 0 ? 0 : headerLength + extBytes;
        b.putLong(BACKING_FILE_OFFSET_OFFSET, backingOffset);
        b.putInt(BACKING_FILE_SIZE_OFFSET, backing.length);
        b.putInt(CLUSTER_BITS_OFFSET, h.clusterBits());
        b.putLong(SIZE_OFFSET, h.size());
        b.putInt(CRYPT_METHOD_OFFSET, h.cryptMethod());
        b.putInt(L1_SIZE_OFFSET, h.l1Size());
        b.putLong(L1_TABLE_OFFSET_OFFSET, h.l1TableOffset());
        b.putLong(REFCOUNT_TABLE_OFFSET_OFFSET, h.refcountTableOffset());
        b.putInt(REFCOUNT_TABLE_CLUSTERS_OFFSET, h.refcountTableClusters());
        b.putInt(NB_SNAPSHOTS_OFFSET, h.nbSnapshots());
        b.putLong(SNAPSHOTS_OFFSET_OFFSET, h.snapshotsOffset());
        if (h.version() == 3) {
            b.putLong(INCOMPATIBLE_FEATURES_OFFSET, h.incompatibleFeatures());
            b.putLong(COMPATIBLE_FEATURES_OFFSET, h.compatibleFeatures());
            b.putLong(AUTOCLEAR_FEATURES_OFFSET, h.autoclearFeatures());
            b.putInt(REFCOUNT_ORDER_OFFSET, h.refcountOrder());
            b.putInt(HEADER_LENGTH_OFFSET, headerLength);
            if (headerLength > Header.V3_LENGTH) {
                b.put(COMPRESSION_TYPE_OFFSET, (byte) h.compressionType());
            }
            byte[] extra = h.unknownHeaderFields();
            b.put(Header.V3_LENGTH_WITH_COMPRESSION, extra, 0,
                    Math.min(extra.length, Math.max(0, headerLength - Header.V3_LENGTH_WITH_COMPRESSION)));
        }
        b.position(headerLength);
        for (HeaderExtension e : ordered) {
            byte[] d = e.data();
            b.putInt(e.type()).putInt(d.length).put(d);
            b.position(b.position() + ((8 - (d.length & 7)) & 7));
        }
        b.putInt(HeaderExtension.END).putInt(0);
        b.put(backing);
        return b.array();
    }
}
