package io.qjournal.qcow2.journal.format;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DescriptorCodecTest {
    private static final int ORDER = 9;

    @Test
    void everyDescriptorRoundTrips() throws Exception {
        byte[] hash = JournalFixture.pattern(1, 32);
        List<Descriptor> ds = List.of(
                new Descriptor.NoOp(4),
                new Descriptor.NoOp(13),
                new Descriptor.Write(List.of(new Descriptor.WriteEntry(512, 0x10000, 11),
                        new Descriptor.WriteEntry(1000, 0xFFFF_FFFF_0000L, 12))),
                new Descriptor.Copy(List.of(new Descriptor.CopyEntry(0xFFFF_FFFFL, 1L << 40, 0))),
                new Descriptor.Revoke(List.of(new Descriptor.Range(4096, 7), new Descriptor.Range(0, 1))),
                new Descriptor.Dedup(true, List.of(new Descriptor.DedupEntry(hash, 0x20000))),
                new Descriptor.Dedup(false, List.of(new Descriptor.DedupEntry(hash, 0x30000))),
                new Descriptor.Write(List.of()));
        ByteBuffer buf = ByteBuffer.allocate(1024);
        for (Descriptor d : ds) {
            int before = buf.position();
            DescriptorCodec.encode(d, buf);
            assertEquals(d.size(), buf.position() - before, d.toString());
        }
        buf.flip();
        // transaction: descriptor block 10, data blocks 11..13
        assertEquals(ds, DescriptorCodec.decode(buf, 10, 3, ORDER));
    }

    @Test
    void layoutMatchesTheDraft() {
        ByteBuffer buf = ByteBuffer.allocate(64);
        DescriptorCodec.encode(new Descriptor.Copy(List.of(new Descriptor.CopyEntry(5, 0x0102, 0x0304))), buf);
        ByteBuffer b = buf.flip();
        assertEquals(2, b.getShort(0));
        assertEquals(24, b.getShort(2));
        assertEquals(5, b.getInt(4));
        assertEquals(0x0102, b.getLong(8));
        assertEquals(0x0304, b.getLong(16));
        buf.clear();
        DescriptorCodec.encode(new Descriptor.Revoke(List.of(new Descriptor.Range(0x99, 3))), buf);
        assertEquals(3, buf.getShort(0));
        assertEquals(16, buf.getShort(2));
        assertEquals(3, buf.getInt(4));
        assertEquals(0x99, buf.getLong(8));
    }

    @Test
    void rejectsMalformedDescriptors() {
        assertInvalid("unknown type", bytes(0, 9, 0, 4));
        assertInvalid("cut short", bytes(0, 0, 0, 4, 0, 1));
        assertInvalid("beyond the descriptor area", bytes(0, 0, 0, 40));
        assertInvalid("beyond the descriptor area", bytes(0, 0, 0, 2));
        assertInvalid("not 4 + 16", write(0, 512, 0x1000, 11, 4 + 15));
        assertInvalid("length 0", write(0, 0, 0x1000, 11, 20));
        assertInvalid("outside the transaction", write(0, 512, 0x1000, 10, 20)); // its own descriptor block
        assertInvalid("outside the transaction", write(0, 512, 0x1000, 14, 20)); // after its data
        assertInvalid("outside the transaction", write(0, 513, 0x1000, 13, 20)); // runs one block past
        assertInvalid("outside the transaction", write(0, -1, 0x1000, 11, 20)); // 4 GiB of data
        assertInvalid("beyond 2^63", write(0, 512, -512, 11, 20));
        assertInvalid("beyond 2^63", write(0, 512, Long.MAX_VALUE - 100, 11, 20));
        ByteBuffer copy = ByteBuffer.allocate(24).putShort((short) 2).putShort((short) 24).putInt(100)
                .putLong(0x1000).putLong(0x1050);
        assertInvalid("overlaps itself", copy.flip());
    }

    private static ByteBuffer write(int pad, int len, long target, int block, int size) {
        ByteBuffer b = ByteBuffer.allocate(Math.max(size, 20));
        b.putShort((short) 1).putShort((short) size).putInt(len).putLong(target).putInt(block);
        return b.position(0).limit(size);
    }

    private static ByteBuffer bytes(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = (byte) v[i];
        }
        return ByteBuffer.wrap(b);
    }

    private static void assertInvalid(String what, ByteBuffer area) {
        DescriptorCodec.Invalid e = assertThrows(DescriptorCodec.Invalid.class,
                () -> DescriptorCodec.decode(area, 10, 3, ORDER));
        assertTrue(e.getMessage().contains(what), e.getMessage());
    }
}
