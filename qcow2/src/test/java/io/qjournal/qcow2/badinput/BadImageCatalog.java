package io.qjournal.qcow2.badinput;

import static io.qjournal.qcow2.header.HeaderCodec.*;

import io.qjournal.qcow2.table.L2Entry;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Malformed images modelled on QEMU's qcow2 input-validation history (iotests 080, 060, 061,
 * 112, 261, 289 and the CVE fixes behind them). Each row: how to build the bytes, and what a
 * read-only and a read-write open followed by reading the whole disk must do.
 */
final class BadImageCatalog {

    /** What opening (and reading everything) must do. */
    enum Outcome {
        /** Must open and read cleanly. */
        ACCEPT,
        /** Must fail with a Qcow2Exception matching the row's pattern. */
        REJECT,
        /** QEMU accepts some form of it: either open and read cleanly, or a clean Qcow2Exception. */
        EITHER
    }

    /**
     * @param name case name
     * @param bytes the image file contents
     * @param ro outcome of a read-only open + full read
     * @param rw outcome of a read-write open + full read
     * @param pattern regex (find, case-insensitive) the error message must match when rejected
     * @param expected guest contents an accepting open must read, or null when not pinned
     */
    record Case(String name, Supplier<byte[]> bytes, Outcome ro, Outcome rw, String pattern, byte[] expected) {
        @Override
        public String toString() {
            return name;
        }
    }

    private final List<Case> cases = new ArrayList<>();

    static List<Case> all() {
        BadImageCatalog c = new BadImageCatalog();
        c.header();
        c.tables();
        c.features();
        c.l1l2();
        c.extendedL2();
        c.refcounts();
        c.snapshots();
        return c.cases;
    }

    private static BaseImage base() {
        return new BaseImage();
    }

    private void add(String name, Outcome ro, Outcome rw, String pattern, Supplier<BaseImage> b,
            Consumer<Patch> patch) {
        cases.add(new Case(name, () -> {
            BaseImage img = b.get();
            byte[] bytes = img.build();
            Patch p = new Patch(img, bytes);
            patch.accept(p);
            return p.bytes;
        }, ro, rw, pattern, null));
    }

    private void reject(String name, String pattern, Consumer<Patch> patch) {
        add(name, Outcome.REJECT, Outcome.REJECT, pattern, BadImageCatalog::base, patch);
    }

    private void either(String name, String pattern, Consumer<Patch> patch) {
        add(name, Outcome.EITHER, Outcome.EITHER, pattern, BadImageCatalog::base, patch);
    }

    private void accept(String name, Supplier<BaseImage> b, Consumer<Patch> patch) {
        BaseImage probe = b.get();
        probe.build();
        byte[] expected = probe.expectedGuest();
        cases.add(new Case(name, () -> {
            BaseImage img = b.get();
            Patch p = new Patch(img, img.build());
            patch.accept(p);
            return p.bytes;
        }, Outcome.ACCEPT, Outcome.ACCEPT, "", expected));
    }

    /** Mutable view of one image's bytes. */
    static final class Patch {
        final BaseImage img;
        byte[] bytes;
        final ByteBuffer b;

        Patch(BaseImage img, byte[] bytes) {
            this.img = img;
            this.bytes = bytes;
            this.b = ByteBuffer.wrap(bytes);
        }

        Patch i32(long off, int v) {
            b.putInt((int) off, v);
            return this;
        }

        Patch i64(long off, long v) {
            b.putLong((int) off, v);
            return this;
        }

        Patch i16(long off, int v) {
            b.putShort((int) off, (short) v);
            return this;
        }

        Patch u8(long off, int v) {
            b.put((int) off, (byte) v);
            return this;
        }

        long l64(long off) {
            return b.getLong((int) off);
        }

        void truncate(int len) {
            bytes = Arrays.copyOf(bytes, len);
        }
    }

    private void header() {
        reject("empty file", "short|empty|truncated|not a qcow2", p -> p.truncate(0));
        reject("50 bytes", "short|truncated", p -> p.truncate(50));
        reject("half a v3 header (90 bytes)", "short|truncated", p -> p.truncate(90));
        reject("header but no tables (one cluster)", "beyond|end of the file|truncated|short", p -> p.truncate(4096));
        reject("bad magic", "magic|not a qcow2", p -> p.i32(MAGIC_OFFSET, 0x514649fc));
        reject("version 1", "version", p -> p.i32(VERSION_OFFSET, 1));
        reject("version 4", "version", p -> p.i32(VERSION_OFFSET, 4));
        reject("cluster_bits 8", "cluster", p -> p.i32(CLUSTER_BITS_OFFSET, 8));
        reject("cluster_bits 22", "cluster", p -> p.i32(CLUSTER_BITS_OFFSET, 22));
        reject("cluster_bits 255", "cluster", p -> p.i32(CLUSTER_BITS_OFFSET, 255));
        reject("cluster_bits -1", "cluster", p -> p.i32(CLUSTER_BITS_OFFSET, -1));
        reject("header_length beyond the cluster", "header", p -> p.i32(HEADER_LENGTH_OFFSET, 8192));
        reject("header_length 0xffffffff", "header", p -> p.i32(HEADER_LENGTH_OFFSET, -1));
        reject("header_length below 104", "header", p -> p.i32(HEADER_LENGTH_OFFSET, 100));
        accept("header_length 120 with unknown zero fields", BadImageCatalog::base,
                p -> p.i32(HEADER_LENGTH_OFFSET, 120));
        reject("backing_file_size 1024", "backing",
                p -> p.i64(BACKING_FILE_OFFSET_OFFSET, 512).i32(BACKING_FILE_SIZE_OFFSET, 1024));
        reject("backing_file_size 0xffffffff", "backing",
                p -> p.i64(BACKING_FILE_OFFSET_OFFSET, 512).i32(BACKING_FILE_SIZE_OFFSET, -1));
        reject("backing_file_offset beyond the cluster", "backing",
                p -> p.i64(BACKING_FILE_OFFSET_OFFSET, 5000).i32(BACKING_FILE_SIZE_OFFSET, 8));
        reject("backing_file_offset + size crosses the cluster end", "backing",
                p -> p.i64(BACKING_FILE_OFFSET_OFFSET, 4090).i32(BACKING_FILE_SIZE_OFFSET, 100));
        reject("backing_file_offset negative", "backing",
                p -> p.i64(BACKING_FILE_OFFSET_OFFSET, Long.MIN_VALUE + 512).i32(BACKING_FILE_SIZE_OFFSET, 8));
        reject("crypt_method 1 (AES)", "encrypt|crypt", p -> p.i32(CRYPT_METHOD_OFFSET, 1));
        reject("crypt_method 2 (LUKS)", "encrypt|crypt|luks", p -> p.i32(CRYPT_METHOD_OFFSET, 2));
        reject("crypt_method 3", "encrypt|crypt", p -> p.i32(CRYPT_METHOD_OFFSET, 3));
        reject("refcount_order 7", "refcount", p -> p.i32(REFCOUNT_ORDER_OFFSET, 7));
        reject("refcount_order -1", "refcount", p -> p.i32(REFCOUNT_ORDER_OFFSET, -1));
        reject("virtual size 2^63", "size", p -> p.i64(SIZE_OFFSET, Long.MIN_VALUE));
        reject("virtual size 2^63-1", "size|L1", p -> p.i64(SIZE_OFFSET, Long.MAX_VALUE));
        reject("compression_type 1 without its feature bit", "compression", p -> p.u8(COMPRESSION_TYPE_OFFSET, 1));
        reject("compression_type 2 with the feature bit", "compression",
                p -> p.u8(COMPRESSION_TYPE_OFFSET, 2).i64(INCOMPATIBLE_FEATURES_OFFSET, 1L << 3));
        reject("compression feature bit with zlib type", "compression",
                p -> p.i64(INCOMPATIBLE_FEATURES_OFFSET, 1L << 3));
        reject("header extension longer than the cluster", "extension",
                p -> p.i32(112, 0x12345678).i32(116, 0xffff));
        reject("header extension length 0xffffffff", "extension",
                p -> p.i32(112, 0x12345678).i32(116, -1));
        accept("unknown header extension", BadImageCatalog::base,
                p -> p.i32(112, 0x12345678).i32(116, 5).i32(120, 0x01020304).u8(124, 5).i64(128, 0));
        accept("version 2 image", () -> base().version(2), p -> { });
        reject("backing file missing", "missing-base|backing|no such file", p -> backing(p, "missing-base.qcow2"));
        reject("backing file is the image itself", "backing|loop|chain|itself|lock|deep",
                p -> backing(p, fileName("backing file is the image itself")));
    }

    /** Puts a backing file name into the header cluster at offset 512. */
    private static void backing(Patch p, String name) {
        byte[] n = name.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        System.arraycopy(n, 0, p.bytes, 512, n.length);
        p.i64(BACKING_FILE_OFFSET_OFFSET, 512).i32(BACKING_FILE_SIZE_OFFSET, n.length);
    }

    /** The file name BadInputTest gives a case's image. */
    static String fileName(String caseName) {
        return "bad-" + caseName.replaceAll("[^A-Za-z0-9]+", "_") + ".qcow2";
    }

    private void tables() {
        reject("refcount_table_clusters 0x7fffffff", "refcount", p -> p.i32(REFCOUNT_TABLE_CLUSTERS_OFFSET, 0x7fffffff));
        reject("refcount_table_clusters 0xffffffff", "refcount", p -> p.i32(REFCOUNT_TABLE_CLUSTERS_OFFSET, -1));
        reject("refcount_table_clusters 0", "refcount", p -> p.i32(REFCOUNT_TABLE_CLUSTERS_OFFSET, 0));
        reject("refcount table offset unaligned", "refcount", p -> p.i64(REFCOUNT_TABLE_OFFSET_OFFSET, 4096 + 8));
        reject("refcount table offset overflows", "refcount",
                p -> p.i64(REFCOUNT_TABLE_OFFSET_OFFSET, 0xffff_ffff_ffff_f000L));
        reject("refcount table beyond EOF", "refcount", p -> p.i64(REFCOUNT_TABLE_OFFSET_OFFSET, 4096L * 1000));
        reject("l1_size 0x7fffffff", "L1", p -> p.i32(L1_SIZE_OFFSET, 0x7fffffff));
        reject("l1_size 0x80000000 (negative)", "L1", p -> p.i32(L1_SIZE_OFFSET, 0x80000000));
        reject("l1_size 0 for a 4 MiB disk", "L1", p -> p.i32(L1_SIZE_OFFSET, 0));
        reject("l1_size 1 too small for the size", "L1", p -> p.i32(L1_SIZE_OFFSET, 1));
        accept("l1_size larger than needed", BadImageCatalog::base, p -> p.i32(L1_SIZE_OFFSET, 512));
        reject("L1 table offset unaligned", "L1", p -> p.i64(L1_TABLE_OFFSET_OFFSET, 3 * 4096 + 512));
        reject("L1 table offset overflows", "L1", p -> p.i64(L1_TABLE_OFFSET_OFFSET, 0xffff_ffff_ffff_f000L));
        reject("L1 table beyond EOF", "L1", p -> p.i64(L1_TABLE_OFFSET_OFFSET, 4096L * 4096));
        reject("L1 table partly beyond EOF", "L1",
                p -> p.i32(L1_SIZE_OFFSET, 2048).i64(L1_TABLE_OFFSET_OFFSET, 7 * 4096));
        reject("nb_snapshots 65537", "snapshot", p -> p.i32(NB_SNAPSHOTS_OFFSET, 65537).i64(SNAPSHOTS_OFFSET_OFFSET, 4096));
        reject("nb_snapshots 0xffffffff", "snapshot", p -> p.i32(NB_SNAPSHOTS_OFFSET, -1).i64(SNAPSHOTS_OFFSET_OFFSET, 4096));
        reject("snapshot table unaligned", "snapshot", p -> p.i32(NB_SNAPSHOTS_OFFSET, 1).i64(SNAPSHOTS_OFFSET_OFFSET, 4096 + 4));
        reject("snapshot table beyond EOF", "snapshot",
                p -> p.i32(NB_SNAPSHOTS_OFFSET, 1).i64(SNAPSHOTS_OFFSET_OFFSET, 4096L * 5000));
        reject("snapshot table offset overflows", "snapshot",
                p -> p.i32(NB_SNAPSHOTS_OFFSET, 1).i64(SNAPSHOTS_OFFSET_OFFSET, 0xffff_ffff_ffff_f000L));
    }

    private void features() {
        reject("unknown incompatible bit 7", "(unknown|unsupported|incompatible).*(\\b7\\b|\\b(0x)?0*80\\b)",
                p -> p.i64(INCOMPATIBLE_FEATURES_OFFSET, 1L << 7));
        reject("unknown incompatible bit 7 named in the feature table", "frobnicated blocks",
                p -> {
                    BaseImage named = base().feature(7, "frobnicated blocks");
                    byte[] b = named.build();
                    System.arraycopy(b, 0, p.bytes, 0, p.bytes.length);
                    p.i64(INCOMPATIBLE_FEATURES_OFFSET, 1L << 7);
                });
        reject("unknown incompatible bit 47", "(unknown|unsupported|incompatible).*(\\b47\\b|\\b(0x)?0*800000000000\\b)",
                p -> p.i64(INCOMPATIBLE_FEATURES_OFFSET, 1L << 47));
        add("corrupt bit", Outcome.ACCEPT, Outcome.REJECT, "corrupt", BadImageCatalog::base,
                p -> p.i64(INCOMPATIBLE_FEATURES_OFFSET, 1L << 1));
        reject("external data file bit", "data file|external|data-file",
                p -> p.i64(INCOMPATIBLE_FEATURES_OFFSET, 1L << 2));
        add("dirty bit", Outcome.ACCEPT, Outcome.EITHER, "dirty", BadImageCatalog::base,
                p -> p.i64(INCOMPATIBLE_FEATURES_OFFSET, 1L));
        accept("unknown compatible bit", BadImageCatalog::base, p -> p.i64(COMPATIBLE_FEATURES_OFFSET, 1L << 9));
        accept("unknown autoclear bit", BadImageCatalog::base, p -> p.i64(AUTOCLEAR_FEATURES_OFFSET, 1L << 9));
        accept("malformed feature name table is ignored", () -> base().feature(9, "x"),
                p -> p.i32(116, 47));
    }

    private void l1l2() {
        either("L1 entry beyond EOF", "beyond|end|L2|past|outside", p -> p.i64(p.img.l1, (4096L * 5000) | L2Entry.COPIED));
        reject("L1 entry unaligned", "align|L2|invalid|corrupt", p -> p.i64(p.img.l1, (p.img.l2 + 512) | L2Entry.COPIED));
        either("L1 entry reserved bits", "reserved|L1|invalid|corrupt",
                p -> p.i64(p.img.l1, p.img.l2 | L2Entry.COPIED | (1L << 58)));
        either("L1 entry pointing at the header", "header|overlap|L2|metadata|corrupt",
                p -> p.i64(p.img.l1, L2Entry.COPIED));
        either("L2 entry with offset bits beyond 2^56", "beyond|reserved|offset|invalid|corrupt",
                p -> p.i64(p.img.l2EntryOffset(0), p.img.data1 | L2Entry.COPIED | (1L << 57)));
        either("L2 entry beyond EOF", "beyond|end|past|outside",
                p -> p.i64(p.img.l2EntryOffset(0), (4096L * 100_000) | L2Entry.COPIED));
        reject("L2 entry unaligned", "align|invalid|corrupt",
                p -> p.i64(p.img.l2EntryOffset(0), (p.img.data1 + 512) | L2Entry.COPIED));
        either("L2 entry pointing at the L1 table", "overlap|metadata|L1|corrupt",
                p -> p.i64(p.img.l2EntryOffset(0), p.img.l1 | L2Entry.COPIED));
        either("compressed entry with COPIED set", "compress|copied|invalid|corrupt",
                p -> p.i64(p.img.l2EntryOffset(1), p.l64(p.img.l2EntryOffset(1)) | L2Entry.COPIED));
        either("compressed entry beyond EOF", "compress|beyond|end|past|inflate|corrupt",
                p -> p.i64(p.img.l2EntryOffset(1), L2Entry.compressedEntry(4096L * 10_000, 2, 12)));
        reject("compressed data garbage", "compress|inflate|decompress|corrupt|invalid",
                p -> Arrays.fill(p.bytes, (int) p.img.compressed, (int) p.img.compressed + 4096, (byte) 0xff));
        either("compressed entry with maximal sector count", "compress|beyond|end|past|inflate|corrupt",
                p -> p.i64(p.img.l2EntryOffset(1), L2Entry.compressedEntry(p.img.compressed, 1 << 10, 12)));
    }

    private void extendedL2() {
        Supplier<BaseImage> ext = () -> base().clusterBits(14).extendedL2(true);
        accept("valid extended L2 image", ext, p -> { });
        add("extended L2: alloc and zero bits both set", Outcome.REJECT, Outcome.REJECT,
                "subcluster|bitmap|invalid|corrupt|zero", ext,
                p -> p.i64(p.img.l2EntryOffset(0) + 8, 0x1L | (0x1L << 32) | 0xfffffffeL));
        add("extended L2: alloc bits on an unallocated cluster", Outcome.REJECT, Outcome.REJECT,
                "subcluster|bitmap|invalid|corrupt|unallocated", ext,
                p -> p.i64(p.img.l2EntryOffset(5) + 8, 0x3L));
        add("extended L2: bitmap on a compressed cluster", Outcome.EITHER, Outcome.EITHER,
                "subcluster|bitmap|invalid|corrupt|compress", ext,
                p -> p.i64(p.img.l2EntryOffset(1) + 8, 0xffL));
        add("extended L2 bit on an image without it", Outcome.EITHER, Outcome.EITHER,
                "subcluster|bitmap|invalid|corrupt|L1|L2", BadImageCatalog::base,
                p -> p.i64(INCOMPATIBLE_FEATURES_OFFSET, 1L << 4));
    }

    private void refcounts() {
        either("refcount table entry unaligned", "refcount|align|corrupt",
                p -> p.i64(p.img.refTable, p.img.refBlock + 8));
        either("refcount table entry beyond EOF", "refcount|beyond|end|corrupt",
                p -> p.i64(p.img.refTable, 4096L * 90_000));
        either("refcount table entry with reserved bits", "refcount|reserved|corrupt",
                p -> p.i64(p.img.refTable, p.img.refBlock | 0x100));
        either("refcount block all zero (every cluster leaked as free)", "refcount|corrupt",
                p -> Arrays.fill(p.bytes, (int) p.img.refBlock, (int) p.img.refBlock + 4096, (byte) 0));
    }

    private void snapshots() {
        Supplier<BaseImage> snap = () -> base().snapshot(true);
        accept("valid image with one snapshot", snap, p -> { });
        add("snapshot id_str_size 0xffff", Outcome.EITHER, Outcome.EITHER, "snapshot|beyond|end|truncated", snap,
                p -> p.i16(p.img.snapField(12), 0xffff));
        add("snapshot name_size 0xffff", Outcome.EITHER, Outcome.EITHER, "snapshot|beyond|end|truncated", snap,
                p -> p.i16(p.img.snapField(14), 0xffff));
        add("snapshot extra_data_size 0xffffffff", Outcome.REJECT, Outcome.REJECT, "snapshot|extra", snap,
                p -> p.i32(p.img.snapField(36), -1));
        add("snapshot extra_data_size 100000", Outcome.REJECT, Outcome.REJECT, "snapshot|extra", snap,
                p -> p.i32(p.img.snapField(36), 100_000));
        add("snapshot L1 offset unaligned", Outcome.EITHER, Outcome.EITHER, "snapshot|align|L1", snap,
                p -> p.i64(p.img.snapField(0), p.img.snapL1 + 8));
        add("snapshot l1_size 0xffffffff", Outcome.EITHER, Outcome.EITHER, "snapshot|L1|large", snap,
                p -> p.i32(p.img.snapField(8), -1));
        add("nb_snapshots 2, second entry all zeros", Outcome.EITHER, Outcome.EITHER,
                "snapshot|extra|L1", snap, p -> p.i32(NB_SNAPSHOTS_OFFSET, 2));
    }
}
