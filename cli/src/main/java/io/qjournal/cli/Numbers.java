package io.qjournal.cli;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.Locale;

/**
 * Number parsing and formatting the way qemu-img and qemu-io do it, so operators' scripts and
 * habits carry over (util/cutils.c qemu_strtosz, qemu-io's cvtstr/timestr, size_to_str).
 */
public final class Numbers {
    private Numbers() {
    }

    /**
     * Parses a size as qemu-img does: decimal (fractions allowed with a suffix), optional suffix
     * b/B (bytes), k/K, m/M, g/G, t/T, p/P, e/E (powers of 1024); also 0x hex without suffix.
     *
     * @throws IllegalArgumentException with a one-line reason
     */
    public static long parseSize(String s) {
        if (s == null || s.isEmpty()) {
            throw new IllegalArgumentException("empty size");
        }
        String t = s.trim();
        if (t.startsWith("-")) {
            throw new IllegalArgumentException("negative size '" + s + "'");
        }
        if (t.startsWith("0x") || t.startsWith("0X")) {
            String hex = t.substring(2);
            int shift = 0;
            if (!hex.isEmpty() && multiplierShift(hex.charAt(hex.length() - 1)) >= 0) {
                shift = multiplierShift(hex.charAt(hex.length() - 1));
                // 'b'/'B' and 'e'/'E' are also hex digits: as QEMU, treat them as digits.
                char c = Character.toUpperCase(hex.charAt(hex.length() - 1));
                if (c == 'B' || c == 'E') {
                    shift = 0;
                } else {
                    hex = hex.substring(0, hex.length() - 1);
                }
            }
            if (hex.isEmpty() || !hex.chars().allMatch(c -> Character.digit(c, 16) >= 0) || hex.length() > 16) {
                throw new IllegalArgumentException("invalid number '" + s + "'");
            }
            long v = Long.parseUnsignedLong(hex, 16);
            if (v < 0 || (shift > 0 && v > (Long.MAX_VALUE >> shift))) {
                throw new IllegalArgumentException("number too large '" + s + "'");
            }
            return v << shift;
        }
        int end = t.length();
        int shift = 0;
        char last = t.charAt(end - 1);
        if (!Character.isDigit(last) && last != '.') {
            shift = multiplierShift(last);
            if (shift < 0) {
                throw new IllegalArgumentException("invalid suffix in '" + s + "'");
            }
            end--;
        }
        String num = t.substring(0, end);
        if (num.isEmpty() || !num.matches("[0-9]+(\\.[0-9]*)?")) {
            throw new IllegalArgumentException("invalid number '" + s + "'");
        }
        BigDecimal v = new BigDecimal(num).multiply(BigDecimal.valueOf(2).pow(shift));
        if (v.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            throw new IllegalArgumentException("number too large '" + s + "'");
        }
        if (num.contains(".") && shift == 0) {
            throw new IllegalArgumentException("fractional byte count '" + s + "'");
        }
        return v.setScale(0, RoundingMode.DOWN).longValueExact();
    }

    /** 0 for b/B, 10 for k/K, ... 60 for e/E; -1 for anything else. */
    private static int multiplierShift(char c) {
        switch (Character.toUpperCase(c)) {
            case 'B': return 0;
            case 'K': return 10;
            case 'M': return 20;
            case 'G': return 30;
            case 'T': return 40;
            case 'P': return 50;
            case 'E': return 60;
            default: return -1;
        }
    }

    /** Parses a byte pattern as qemu-io -P does (strtol base 0: decimal, 0x hex, 0 octal). */
    public static int parsePattern(String s) {
        try {
            long v;
            if (s.startsWith("0x") || s.startsWith("0X")) {
                v = Long.parseLong(s.substring(2), 16);
            } else if (s.length() > 1 && s.startsWith("0")) {
                v = Long.parseLong(s.substring(1), 8);
            } else {
                v = Long.parseLong(s);
            }
            if (v < 0 || v > Integer.MAX_VALUE) {
                throw new NumberFormatException();
            }
            return (int) (v & 0xff);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("non-numeric pattern '" + s + "'");
        }
    }

    /** qemu-io's cvtstr: "64 KiB", "3.938 MiB", "512 bytes". */
    public static String cvtstr(double value) {
        String suffix;
        if (value >= (double) (1L << 60)) {
            suffix = " EiB";
            value /= (double) (1L << 60);
        } else if (value >= (double) (1L << 50)) {
            suffix = " PiB";
            value /= (double) (1L << 50);
        } else if (value >= (double) (1L << 40)) {
            suffix = " TiB";
            value /= (double) (1L << 40);
        } else if (value >= (double) (1L << 30)) {
            suffix = " GiB";
            value /= (double) (1L << 30);
        } else if (value >= (double) (1L << 20)) {
            suffix = " MiB";
            value /= (double) (1L << 20);
        } else if (value >= 1024) {
            suffix = " KiB";
            value /= 1024;
        } else {
            suffix = " bytes";
        }
        String s = fixed(value, 3);
        int trim = s.indexOf(".000");
        return (trim >= 0 ? s.substring(0, trim) : s) + suffix;
    }

    /** qemu-io's timestr: "00.00 sec" under a second, else "H:MM:SS.ss". */
    public static String timestr(long nanos) {
        long secs = nanos / 1_000_000_000L;
        double frac = (nanos % 1_000_000_000L) / 1e9;
        if (secs == 0) {
            return fixedZeroPad(frac, 5, 2) + " sec";
        }
        return String.format(Locale.ROOT, "%d:%02d:", secs / 3600, (secs / 60) % 60) + fixedZeroPad((secs % 60) + frac, 5, 2);
    }

    /** QEMU's size_to_str: "%0.3g %sB" with binary prefixes ("10 MiB", "332 KiB", "0 B"). */
    public static String sizeToStr(long val) {
        String[] suffixes = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        double scaled = val / (1000.0 / 1024.0);
        int exp = scaled == 0 ? 0 : Math.getExponent(scaled) + 1; // frexp's exponent
        int i = Math.max(0, (exp - 1) / 10);
        i = Math.min(i, suffixes.length - 1);
        double div = Math.pow(2, i * 10);
        return formatG3(val / div) + " " + suffixes[i] + "B";
    }

    /** C's printf("%0.3g") for non-negative values. */
    static String formatG3(double v) {
        if (v == 0) {
            return "0";
        }
        BigDecimal bd = new BigDecimal(v).round(new MathContext(3, RoundingMode.HALF_EVEN));
        int exp = bd.precision() - bd.scale() - 1;
        if (exp < -4 || exp >= 3) {
            BigDecimal mant = bd.movePointLeft(exp).stripTrailingZeros();
            return mant.toPlainString() + String.format(Locale.ROOT, "e%s%02d", exp < 0 ? "-" : "+", Math.abs(exp));
        }
        String s = bd.stripTrailingZeros().toPlainString();
        return s;
    }

    /** {@link #parseSize}, failing with the given one-line message. */
    public static long parseSizeOr(String s, String message) {
        try {
            return parseSize(s);
        } catch (IllegalArgumentException e) {
            throw new CliException(message);
        }
    }

    /** C's printf("%.Nf"): rounds the exact binary value, ties to even (glibc), unlike Java's HALF_UP. */
    public static String fixed(double v, int digits) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return Double.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";
        }
        return new BigDecimal(v).setScale(digits, RoundingMode.HALF_EVEN).toPlainString();
    }

    /** {@link #fixed} left-padded with zeros to {@code width} characters, as "%0W.Nf". */
    static String fixedZeroPad(double v, int width, int digits) {
        String s = fixed(v, digits);
        StringBuilder sb = new StringBuilder();
        for (int i = s.length(); i < width; i++) {
            sb.append('0');
        }
        return sb.append(s).toString();
    }
}
