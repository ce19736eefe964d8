package io.qjournal.qcow2.header;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * HeaderCodec.readHeaderArea reads the first 4 KiB of the header cluster when they hold all
 * that decode looks at, and the whole cluster otherwise; either way decode gives the same
 * header as from the whole cluster.
 */
class HeaderAreaTest {
    private static final int CS = 65536;
    private static final long FILE = 1L << 30;

    private record Reads(byte[] cluster, List<Integer> lengths) implements HeaderCodec.PositionedRead {
        @Override
        public void read(long offset, byte[] dst, int off, int len) {
            lengths.add(len);
            System.arraycopy(cluster, (int) offset, dst, off, len);
        }
    }

    private static void assertReadsAndDecodesAlike(byte[] cluster, int expectedLastRead) throws Exception {
        Reads r = new Reads(cluster, new ArrayList<>());
        byte[] area = HeaderCodec.readHeaderArea(cluster.length, CS, r);
        assertEquals(expectedLastRead, r.lengths().get(r.lengths().size() - 1), "bytes of the last read");
        assertEquals(area.length, expectedLastRead);
        Header whole = HeaderCodec.decode(cluster, FILE, "t");
        Header part = HeaderCodec.decode(area, FILE, "t");
        assertEquals(whole.backingFile(), part.backingFile());
        assertEquals(whole.extensions().size(), part.extensions().size());
        for (int i = 0; i < whole.extensions().size(); i++) {
            assertEquals(whole.extensions().get(i).type(), part.extensions().get(i).type());
            assertEquals(Arrays.toString(whole.extensions().get(i).data()), Arrays.toString(part.extensions().get(i).data()));
        }
        assertEquals(whole.l1TableOffset(), part.l1TableOffset());
        assertEquals(whole.incompatibleFeatures(), part.incompatibleFeatures());
    }

    private static byte[] encoded(Header.Builder b) throws Exception {
        return Arrays.copyOf(HeaderCodec.encode(b.build()), CS);
    }

    @Test
    void smallHeadersAreReadInTheirFirstFourKiB() throws Exception {
        Header.Builder b = HeaderCodecTest.v3(16);
        b.extensions = List.of(new HeaderExtension(HeaderExtension.BACKING_FORMAT, "raw".getBytes(StandardCharsets.UTF_8)));
        b.backingFile = "base.raw";
        assertReadsAndDecodesAlike(encoded(b), HeaderCodec.HEADER_PROBE_BYTES);
        assertReadsAndDecodesAlike(encoded(HeaderCodecTest.v3(16)), HeaderCodec.HEADER_PROBE_BYTES);
    }

    @Test
    void anExtensionPastFourKiBMakesItReadTheCluster() throws Exception {
        Header.Builder b = HeaderCodecTest.v3(16);
        b.extensions = List.of(new HeaderExtension(0x7e57_0001, new byte[6000]));
        assertReadsAndDecodesAlike(encoded(b), CS);
    }

    @Test
    void aBackingFileNamePastFourKiBMakesItReadTheCluster() throws Exception {
        byte[] c = encoded(HeaderCodecTest.v3(16));
        byte[] name = "far/away.qcow2".getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(name, 0, c, 8000, name.length);
        ByteBuffer.wrap(c).putLong(HeaderCodec.BACKING_FILE_OFFSET_OFFSET, 8000).putInt(HeaderCodec.BACKING_FILE_SIZE_OFFSET, name.length);
        assertReadsAndDecodesAlike(c, CS);
    }

    @Test
    void noEndMarkerMakesItReadTheCluster() throws Exception {
        byte[] c = encoded(HeaderCodecTest.v3(16));
        int pos = Header.V3_LENGTH_WITH_COMPRESSION;
        // Chain small unknown extensions past 4 KiB, where the end marker finally comes.
        while (pos < 5000) {
            ByteBuffer.wrap(c).putInt(pos, 0x7e57_0002).putInt(pos + 4, 8);
            pos += 16;
        }
        ByteBuffer.wrap(c).putInt(pos, HeaderExtension.END).putInt(pos + 4, 0);
        assertReadsAndDecodesAlike(c, CS);
    }
}
