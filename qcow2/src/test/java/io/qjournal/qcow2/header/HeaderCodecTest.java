package io.qjournal.qcow2.header;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.Qcow2Exception;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class HeaderCodecTest {
    private static final long FILE = 1L << 30;

    static Header.Builder v3(int clusterBits) {
        Header.Builder b = new Header.Builder();
        b.version = 3;
        b.clusterBits = clusterBits;
        b.size = 1L << 30;
        int cs = 1 << clusterBits;
        b.l1Size = (int) Math.max(1, (1L << 30) / ((long) (cs / 8) * cs));
        b.l1TableOffset = 3L * cs;
        b.refcountTableOffset = cs;
        b.refcountTableClusters = 1;
        b.refcountOrder = 4;
        b.headerLength = Header.V3_LENGTH_WITH_COMPRESSION;
        return b;
    }

    static byte[] cluster(byte[] encoded, int cs) {
        return Arrays.copyOf(encoded, cs);
    }

    @ParameterizedTest
    @ValueSource(ints = {9, 12, 16, 21})
    void roundTripWithExtensionsAndBackingFile(int bits) throws Exception {
        Header.Builder b = v3(bits);
        b.backingFile = "base.raw";
        b.extensions = List.of(new HeaderExtension(HeaderExtension.BACKING_FORMAT, "raw".getBytes(StandardCharsets.UTF_8)),
                new HeaderExtension(0x12345678, new byte[] {1, 2, 3}));
        b.set(Feature.LAZY_REFCOUNTS, true);
        Header h = b.build();
        Header back = HeaderCodec.decode(cluster(HeaderCodec.encode(h), 1 << bits), FILE, "t");
        assertEquals("base.raw", back.backingFile());
        assertEquals("raw", back.backingFormat());
        assertArrayEquals(new byte[] {1, 2, 3}, back.extension(0x12345678).data(), "unknown extension kept byte for byte");
        assertTrue(back.has(Feature.LAZY_REFCOUNTS));
        assertEquals(h.size(), back.size());
        assertEquals(h.l1TableOffset(), back.l1TableOffset());
        assertEquals(bits > 12, back.extension(HeaderExtension.FEATURE_NAME_TABLE) != null,
                "feature table as qemu-img writes it: only above 4 KiB clusters");
    }

    @Test
    void version2HasNoFeatureFields() throws Exception {
        Header.Builder b = v3(16);
        b.version = 2;
        byte[] enc = HeaderCodec.encode(b.build());
        Header back = HeaderCodec.decode(cluster(enc, 65536), FILE, "t");
        assertEquals(2, back.version());
        assertEquals(Header.V2_LENGTH, back.headerLength());
        assertEquals(4, back.refcountOrder());
    }

    @Test
    void journalBitsAreNamedInTheFeatureTable() throws Exception {
        Header.Builder b = v3(12);
        b.set(Feature.JOURNAL_DIRTY, true).set(Feature.JOURNAL_VALID, true);
        Header back = HeaderCodec.decode(cluster(HeaderCodec.encode(b.build()), 4096), FILE, "t");
        List<FeatureNameTable.Entry> t = FeatureNameTable.decode(back.extension(HeaderExtension.FEATURE_NAME_TABLE).data());
        assertEquals("journal dirty", FeatureNameTable.nameOf(t, Feature.Kind.INCOMPATIBLE, 60));
        assertEquals("journal valid", FeatureNameTable.nameOf(t, Feature.Kind.AUTOCLEAR, 60));
    }

    @Test
    void unknownHeaderFieldsArePreserved() throws Exception {
        Header.Builder b = v3(16);
        b.headerLength = 120;
        b.unknownHeaderFields = new byte[] {9, 8, 7, 6, 5, 4, 3, 2};
        Header back = HeaderCodec.decode(cluster(HeaderCodec.encode(b.build()), 65536), FILE, "t");
        assertEquals(120, back.headerLength());
        assertArrayEquals(new byte[] {9, 8, 7, 6, 5, 4, 3, 2}, back.unknownHeaderFields());
    }

    private static byte[] valid() throws Exception {
        return cluster(HeaderCodec.encode(v3(16).build()), 65536);
    }

    private static void assertRejects(byte[] c, String fragment) {
        Qcow2Exception e = assertThrows(Qcow2Exception.class, () -> HeaderCodec.decode(c, FILE, "img.qcow2"));
        assertTrue(e.getMessage().startsWith("img.qcow2: "), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }

    @Test
    void rejectsOutOfRangeFields() throws Exception {
        byte[] c = valid();
        ByteBuffer.wrap(c).putInt(0, 0x12345678);
        assertRejects(c, "bad magic");
        c = valid();
        ByteBuffer.wrap(c).putInt(HeaderCodec.VERSION_OFFSET, 4);
        assertRejects(c, "version 4");
        c = valid();
        ByteBuffer.wrap(c).putInt(HeaderCodec.CLUSTER_BITS_OFFSET, 22);
        assertRejects(c, "cluster_bits");
        c = valid();
        ByteBuffer.wrap(c).putInt(HeaderCodec.CLUSTER_BITS_OFFSET, 8);
        assertRejects(c, "cluster_bits");
        c = valid();
        ByteBuffer.wrap(c).putInt(HeaderCodec.REFCOUNT_ORDER_OFFSET, 7);
        assertRejects(c, "refcount_order");
        c = valid();
        ByteBuffer.wrap(c).putInt(HeaderCodec.HEADER_LENGTH_OFFSET, 70000);
        assertRejects(c, "exceeds cluster size");
        c = valid();
        ByteBuffer.wrap(c).putInt(HeaderCodec.L1_SIZE_OFFSET, 0x7fffffff);
        assertRejects(c, "L1 table is too large");
        c = valid();
        ByteBuffer.wrap(c).putInt(HeaderCodec.L1_SIZE_OFFSET, 0);
        assertRejects(c, "L1 table is too small");
        c = valid();
        ByteBuffer.wrap(c).putLong(HeaderCodec.L1_TABLE_OFFSET_OFFSET, 65536 * 3 + 8);
        assertRejects(c, "not aligned");
        c = valid();
        ByteBuffer.wrap(c).putLong(HeaderCodec.REFCOUNT_TABLE_OFFSET_OFFSET, Long.MAX_VALUE & ~0xffffL);
        assertRejects(c, "overflows");
        c = valid();
        ByteBuffer.wrap(c).putInt(HeaderCodec.REFCOUNT_TABLE_CLUSTERS_OFFSET, 1 << 20);
        assertRejects(c, "refcount_table_clusters");
        c = valid();
        ByteBuffer.wrap(c).putInt(HeaderCodec.NB_SNAPSHOTS_OFFSET, 65537);
        assertRejects(c, "too many snapshots");
        c = valid();
        ByteBuffer.wrap(c).put(HeaderCodec.COMPRESSION_TYPE_OFFSET, (byte) 1);
        assertRejects(c, "feature bit is not");
        c = valid();
        ByteBuffer.wrap(c).putInt(HeaderCodec.CRYPT_METHOD_OFFSET, 2);
        assertRejects(c, "LUKS");
        c = valid();
        ByteBuffer.wrap(c).putInt(HeaderCodec.BACKING_FILE_SIZE_OFFSET, 1024).putLong(HeaderCodec.BACKING_FILE_OFFSET_OFFSET, 512);
        assertRejects(c, "too long");
        c = valid();
        ByteBuffer.wrap(c).putInt(Header.V3_LENGTH_WITH_COMPRESSION + 4, 1 << 20);
        assertRejects(c, "runs past the header cluster");
    }

    @Test
    void rejectsTablesBeyondTheFile() throws Exception {
        Qcow2Exception e = assertThrows(Qcow2Exception.class, () -> HeaderCodec.decode(valid(), 65536 * 2, "img.qcow2"));
        assertTrue(e.getMessage().contains("beyond the end of the file"), e.getMessage());
    }

    @Test
    void featureTableCodecRoundTrip() {
        List<FeatureNameTable.Entry> in = List.of(new FeatureNameTable.Entry(0, 60, "journal dirty"),
                new FeatureNameTable.Entry(2, 0, "x".repeat(60)));
        List<FeatureNameTable.Entry> out = FeatureNameTable.decode(FeatureNameTable.encode(in));
        assertEquals(in.get(0), out.get(0));
        assertEquals("x".repeat(46), out.get(1).name(), "names are cut to 46 bytes");
        assertNull(FeatureNameTable.nameOf(out, Feature.Kind.COMPATIBLE, 0));
    }
}
