package io.qjournal.qcow2.bitmap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.storage.Extent;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class BitmapDirectoryTest {
    private static final int CS = 4096;
    private static final long DIR = 5L * CS;
    private static final long TABLE = 6L * CS;
    private static final long DATA = 7L * CS;

    private static Header header(int nb, long dirSize, long dirOffset, boolean autoclear, int reserved) {
        Header.Builder b = new Header.Builder();
        b.version = 3;
        b.clusterBits = 12;
        b.size = 64L << 20;
        b.l1Size = 1;
        b.l1TableOffset = CS;
        b.refcountTableOffset = 2 * CS;
        b.refcountTableClusters = 1;
        b.refcountOrder = 4;
        b.headerLength = 112;
        ByteBuffer ext = ByteBuffer.allocate(24).putInt(nb).putInt(reserved).putLong(dirSize).putLong(dirOffset);
        b.extensions = List.of(new HeaderExtension(HeaderExtension.BITMAPS, ext.array()));
        b.set(Feature.BITMAPS, autoclear);
        return b.build();
    }

    private static byte[] dirEntry(String name, long table, int tableSize, int flags, int granularity, int type) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate((24 + n.length + 7) & ~7);
        b.putLong(table).putInt(tableSize).putInt(flags).put((byte) type).put((byte) granularity)
                .putShort((short) n.length).putInt(0).put(n);
        return b.array();
    }

    /** 64 MiB at 64 KiB granularity is 1024 bits: one table entry suffices. */
    private static MemoryStorage image(byte[] dir, long tableEntry) throws IOException {
        MemoryStorage s = new MemoryStorage("bm.qcow2");
        s.truncate(8L * CS);
        s.write(DIR, dir, 0, dir.length);
        s.write(TABLE, ByteBuffer.allocate(8).putLong(0, tableEntry));
        return s;
    }

    @Test
    void readsDirectoryTablesAndOccupiedRanges() throws IOException {
        byte[] e = dirEntry("b0", TABLE, 1, BitmapDirectory.FLAG_AUTO, 16, 1);
        MemoryStorage s = image(e, DATA);
        BitmapDirectory d = BitmapDirectory.read(s, header(1, e.length, DIR, true, 0));
        assertEquals(1, d.entries().size());
        BitmapDirectory.Entry b = d.entries().get(0);
        assertEquals("b0", b.name());
        assertEquals(16, b.granularityBits());
        assertEquals(List.of(DATA), b.dataClusters());
        List<Extent> r = d.occupiedRanges();
        assertEquals(3, r.size());
        assertEquals(new Extent(DIR, e.length), r.get(0));
        assertEquals(new Extent(TABLE, 8), r.get(1));
        assertEquals(new Extent(DATA, CS), r.get(2));
    }

    @Test
    void bitmapsAreIgnoredWithoutTheAutoclearBit() throws IOException {
        byte[] e = dirEntry("b0", TABLE, 1, 0, 16, 1);
        Header h = header(1, e.length, DIR, false, 0);
        assertNull(BitmapDirectory.parseExtension(h, "x"));
        assertTrue(BitmapDirectory.read(image(e, 0), h).occupiedRanges().isEmpty());
    }

    @Test
    void rejectsBrokenExtensionsAndDirectories() throws IOException {
        byte[] good = dirEntry("b0", TABLE, 1, 0, 16, 1);
        List<Header> badHeaders = List.of(header(0, good.length, DIR, true, 0), header(1, good.length, DIR, true, 1),
                header(1, good.length, DIR + 512, true, 0), header(1, BitmapDirectory.MAX_DIRECTORY_SIZE + 1, DIR, true, 0),
                header(2, good.length, DIR, true, 0), header(1, good.length - 8, DIR, true, 0),
                header(1, 1L << 40, DIR, true, 0));
        for (Header h : badHeaders) {
            Qcow2Exception ex = assertThrows(Qcow2Exception.class, () -> BitmapDirectory.read(image(good, 0), h));
            assertTrue(ex.getMessage().startsWith("bm.qcow2: "), ex.getMessage());
        }
        List<byte[]> badEntries = List.of(dirEntry("z", 0, 1, 0, 16, 1), dirEntry("t", TABLE, 1, 0, 16, 2),
                dirEntry("g", TABLE, 1, 0, 8, 1), dirEntry("f", TABLE, 1, 4, 16, 1),
                dirEntry("small", TABLE, 1, 0, 9, 1), dirEntry("u", TABLE + 512, 1, 0, 16, 1));
        for (byte[] e : badEntries) {
            assertThrows(Qcow2Exception.class, () -> BitmapDirectory.read(image(e, 0), header(1, e.length, DIR, true, 0)));
        }
        // a too-small table is fine for a bitmap marked in use (its data is not trusted anyway)
        byte[] inUse = dirEntry("small", TABLE, 1, BitmapDirectory.FLAG_IN_USE, 9, 1);
        assertEquals(1, BitmapDirectory.read(image(inUse, 0), header(1, inUse.length, DIR, true, 0)).entries().size());
        // bad table entries: reserved bits, unaligned offset, offset with the all-ones flag
        for (long t : new long[] {1L << 60, DATA + 512, DATA | 1}) {
            assertThrows(Qcow2Exception.class, () -> BitmapDirectory.read(image(good, t), header(1, good.length, DIR, true, 0)));
        }
    }
}
