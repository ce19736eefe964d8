package io.qjournal.qcow2.journal.format;

/**
 * 32-bit journal sequence numbers compared with serial-number arithmetic (RFC 1982 style).
 *
 * <p>0 is never the sequence number of a transaction: the successor of 0xFFFFFFFF is 1. A header
 * value of 0 (a fresh journal, as the draft recommends) behaves like 0xFFFFFFFF, so its successor
 * is 1 as well. The valid values 1..0xFFFFFFFF form a ring of 2^32-1 elements; "a is after b"
 * means a is reached from b in fewer than 2^31 successor steps.
 */
final class Seq {
    private static final long MODULUS = 0xFFFF_FFFFL;
    private static final long HALF = 1L << 31;

    private Seq() {
    }

    public static int next(int seq) {
        int n = seq + 1;
        return n == 0 ? 1 : n;
    }

    /** The value whose successor is {@code seq} (a valid sequence number); prev(1) is 0xFFFFFFFF. */
    public static int prev(int seq) {
        return (int) ((norm(seq) + MODULUS - 2) % MODULUS + 1);
    }

    /** {@code seq} advanced by {@code steps >= 0} successor steps. */
    public static int add(int seq, long steps) {
        if (steps < 0) {
            throw new IllegalArgumentException("negative sequence step " + steps);
        }
        return (int) ((norm(seq) - 1 + steps % MODULUS) % MODULUS + 1);
    }

    /** The number of successor steps from {@code from} to {@code to}, in 0..2^32-2. */
    public static long distance(int from, int to) {
        return Math.floorMod(norm(to) - norm(from), MODULUS);
    }

    /** True when {@code a} comes strictly after {@code b} (fewer than 2^31 steps ahead). */
    public static boolean isAfter(int a, int b) {
        long d = distance(b, a);
        return d > 0 && d < HALF;
    }

    public static String str(int seq) {
        return Integer.toUnsignedString(seq);
    }

    private static long norm(int seq) {
        long v = seq & 0xFFFF_FFFFL;
        return v == 0 ? MODULUS : v;
    }
}
