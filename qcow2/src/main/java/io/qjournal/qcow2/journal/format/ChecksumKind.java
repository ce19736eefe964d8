package io.qjournal.qcow2.journal.format;

import java.util.zip.CRC32C;

/**
 * The two checksum algorithms of the journal. The header flag {@link JournalHeader#FLAG_CRC32C}
 * selects one for the header block and every descriptor block of the journal; without it the
 * draft's one's complement of the byte sum is used, so journals written to the 2013 draft stay
 * readable. The checksum field itself is skipped (not zeroed) when computing.
 */
enum ChecksumKind {
    /** One's complement of the sum, modulo 2^32, of all covered bytes taken as unsigned. */
    DRAFT_SUM,
    /** CRC-32C (Castagnoli) of all covered bytes, as {@link java.util.zip.CRC32C} computes it. */
    CRC32C;

    private static final byte[] ZEROS = new byte[65536];

    /** A running checksum. */
    public interface Accumulator {
        void update(byte[] b, int off, int len);

        /** Feeds {@code n} zero bytes. */
        void updateZeros(long n);

        int value();
    }

    public Accumulator start() {
        return this == CRC32C ? new Crc() : new Sum();
    }

    private static final class Sum implements Accumulator {
        private int sum;

        @Override
        public void update(byte[] b, int off, int len) {
            int s = sum;
            for (int i = off; i < off + len; i++) {
                s += b[i] & 0xFF;
            }
            sum = s;
        }

        @Override
        public void updateZeros(long n) {
            // zeros add nothing to a sum
        }

        @Override
        public int value() {
            return ~sum;
        }
    }

    private static final class Crc implements Accumulator {
        private final CRC32C crc = new CRC32C();

        @Override
        public void update(byte[] b, int off, int len) {
            crc.update(b, off, len);
        }

        @Override
        public void updateZeros(long n) {
            while (n > 0) {
                int k = (int) Math.min(n, ZEROS.length);
                crc.update(ZEROS, 0, k);
                n -= k;
            }
        }

        @Override
        public int value() {
            return (int) crc.getValue();
        }
    }
}
