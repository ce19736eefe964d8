package io.qjournal.qcow2;

import java.util.Locale;

/** Sizes as qemu-img reads them: bytes, or a number with a K/M/G/T/P/E suffix (powers of 1024). */
public final class Sizes {
    private Sizes() {
    }

    public static long parse(String v) {
        String s = v.trim();
        if (s.isEmpty()) {
            throw new IllegalArgumentException("empty size");
        }
        char last = Character.toUpperCase(s.charAt(s.length() - 1));
        int shift = "BKMGTPE".indexOf(last) * 10;
        String num = shift >= 0 ? s.substring(0, s.length() - 1) : s;
        if (shift < 0) {
            shift = 0;
        }
        try {
            if (num.contains(".")) {
                double d = Double.parseDouble(num) * Math.pow(2, shift);
                if (d < 0 || d >= 0x1p63) {
                    throw new IllegalArgumentException("size '" + v + "' is out of range");
                }
                return (long) d;
            }
            long n = Long.parseLong(num);
            if (n < 0 || (shift > 0 && n > (Long.MAX_VALUE >> shift))) {
                throw new IllegalArgumentException("size '" + v + "' is out of range");
            }
            return n << shift;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid size '" + v.toLowerCase(Locale.ROOT)
                    + "' (use a number with an optional K, M, G or T suffix)");
        }
    }
}
