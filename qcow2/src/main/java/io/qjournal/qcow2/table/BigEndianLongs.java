package io.qjournal.qcow2.table;

import java.nio.ByteBuffer;

/**
 * Decodes tables of big-endian 64-bit entries (L1, L2, refcount tables) in one bulk copy.
 *
 * <p>Why not {@code ByteBuffer.getLong} per entry: a short-lived process (a `check` of one
 * image, the first images of a batch sweep) runs table loops in the interpreter, where a
 * per-entry {@code getLong} is hundreds of times slower than the bulk view copy, a native
 * byte-swapping copy that is fast whether or not anything is compiled yet.
 */
public final class BigEndianLongs {
    private BigEndianLongs() {
    }

    /** Decodes {@code count} entries starting at byte {@code offset} of {@code src} into {@code dst[0..count)}. */
    public static void decode(byte[] src, int offset, long[] dst, int count) {
        ByteBuffer.wrap(src, offset, count * 8).slice().asLongBuffer().get(dst, 0, count);
    }

    /** Decodes the {@code count} entries from the current position of {@code src}, advancing it. */
    public static long[] decode(ByteBuffer src, int count) {
        long[] dst = new long[count];
        src.asLongBuffer().get(dst, 0, count);
        src.position(src.position() + count * 8);
        return dst;
    }
}
