package io.qjournal.qcow2.snapshot;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SnapshotTableTest {
    private static final int CS = 4096;

    private static Header header(int nb, long offset, long fileSize) {
        Header.Builder b = new Header.Builder();
        b.version = 3;
        b.clusterBits = 12;
        b.size = 1 << 20;
        b.l1Size = 1;
        b.l1TableOffset = CS;
        b.refcountTableOffset = 2 * CS;
        b.refcountTableClusters = 1;
        b.refcountOrder = 4;
        b.headerLength = 112;
        b.nbSnapshots = nb;
        b.snapshotsOffset = offset;
        return b.build();
    }

    private static SnapshotEntry entry(String id, String name, long l1, int l1Size, byte[] extra) {
        return new SnapshotEntry(l1, l1Size, id, name, 1_700_000_000L, 123_000_000L, 5_000_000_123L, 0,
                1L << 20, -1, extra);
    }

    private static MemoryStorage storeWith(byte[] table, long offset, long fileSize) throws IOException {
        MemoryStorage s = new MemoryStorage("snap.qcow2");
        s.truncate(fileSize);
        s.write(offset, table, 0, table.length);
        return s;
    }

    @Test
    void encodeThenReadRoundTrips() throws IOException {
        byte[] unknown = new byte[40];
        new Random(7).nextBytes(unknown);
        ByteBuffer.wrap(unknown).putLong(0, 0).putLong(8, 1L << 20).putLong(16, -1);
        List<SnapshotEntry> in = List.of(entry("1", "first", 8 * CS, 1, null), entry("2", "sëcond", 9 * CS, 1, unknown),
                entry("10", "", 10 * CS, 1, null));
        byte[] table = SnapshotTable.encode(in);
        assertEquals(SnapshotTable.encodedSize(in), table.length);
        MemoryStorage s = storeWith(table, 4 * CS, 16 * CS);
        List<SnapshotEntry> out = SnapshotTable.read(s, header(3, 4 * CS, 16 * CS));
        assertEquals(3, out.size());
        assertEquals("sëcond", out.get(1).name());
        assertEquals(40, out.get(1).extraData().length);
        assertArrayEquals(unknown, out.get(1).extraData());
        assertEquals(24, out.get(0).extraData().length, "QEMU always writes the 24 known bytes");
        assertEquals(1L << 20, out.get(0).diskSize());
        assertEquals(-1, out.get(0).icount());
        assertEquals(5_000_000_123L, out.get(2).vmClockNsec());
        // Each entry starts 8-byte aligned: byte-exact re-encoding of what was read.
        assertArrayEquals(table, SnapshotTable.encode(out));
        assertEquals(table.length, SnapshotTable.readUnvalidatedL1(s, header(3, 4 * CS, 16 * CS)).sizeBytes());
    }

    @Test
    void shortExtraDataMeansAbsentFields() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(48);
        b.putLong(8 * CS).putInt(1).putShort((short) 1).putShort((short) 1).putInt(1).putInt(2).putLong(3)
                .putInt(77).putInt(0).put((byte) '1').put((byte) 'x');
        MemoryStorage s = storeWith(b.array(), 4 * CS, 16 * CS);
        SnapshotEntry e = SnapshotTable.read(s, header(1, 4 * CS, 16 * CS)).get(0);
        assertEquals(77, e.vmStateSize());
        assertEquals(-1, e.diskSize());
        assertEquals(-1, e.icount());
        assertEquals("x", e.name());
    }

    @Test
    void rejectsWhatQemuRejects() throws IOException {
        // extra data over 1024 bytes
        ByteBuffer b = ByteBuffer.allocate(64);
        b.putLong(8 * CS).putInt(1).putShort((short) 0).putShort((short) 0).putLong(0).putLong(0).putInt(0).putInt(1025);
        MemoryStorage s = storeWith(b.array(), 4 * CS, 16 * CS);
        Qcow2Exception e = assertThrows(Qcow2Exception.class, () -> SnapshotTable.read(s, header(1, 4 * CS, 16 * CS)));
        assertTrue(e.getMessage().startsWith("snap.qcow2: too much extra metadata"), e.getMessage());
        // unaligned table offset
        assertThrows(Qcow2Exception.class, () -> SnapshotTable.read(s, header(1, 4 * CS + 8, 16 * CS)));
    }

    @Test
    void strictReadValidatesEachL1Table() throws IOException {
        for (SnapshotEntry bad : List.of(entry("1", "a", 8 * CS + 512, 1, null), entry("1", "a", 15 * CS, 1024, null),
                entry("1", "a", 8 * CS, SnapshotTable.MAX_L1_ENTRIES + 1, null))) {
            MemoryStorage s = storeWith(SnapshotTable.encode(List.of(bad)), 4 * CS, 16 * CS);
            Header h = header(1, 4 * CS, 16 * CS);
            assertThrows(Qcow2Exception.class, () -> SnapshotTable.read(s, h), bad.toString());
            assertEquals(bad.l1TableOffset(), SnapshotTable.readUnvalidatedL1(s, h).entries().get(0).l1TableOffset());
        }
    }

    @Test
    void tableTooBigIsRefusedWithoutReadingItAll() throws IOException {
        // 65536 entries each claiming 65535+65535 bytes of id and name: far past the 64 MiB limit.
        ByteBuffer b = ByteBuffer.allocate(40);
        b.putLong(8 * CS).putInt(0).putShort((short) -1).putShort((short) -1).putLong(0).putLong(0).putInt(0).putInt(0);
        MemoryStorage s = new MemoryStorage("big.qcow2");
        s.truncate(16 * CS);
        long off = 4 * CS;
        for (int i = 0; i < 600; i++) {
            s.write(off, b.array(), 0, 40);
            off = (off + 40 + 2 * 65535 + 7) & ~7L;
        }
        Qcow2Exception e = assertThrows(Qcow2Exception.class,
                () -> SnapshotTable.readUnvalidatedL1(s, header(65536, 4 * CS, s.size())));
        assertTrue(e.getMessage().contains("snapshot table is too big"), e.getMessage());
    }
}
