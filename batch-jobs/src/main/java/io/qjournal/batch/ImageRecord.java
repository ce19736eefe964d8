package io.qjournal.batch;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One image's line in a job report. Keys follow qemu-img check's where they apply.
 *
 * @param sizeBefore file size before the job touched it (-1: not measured)
 * @param sizeAfter file size afterwards (-1: not measured)
 * @param bytesScanned bytes of image data the job read (progress accounting)
 * @param bytesWon bytes freed (dedup-compaction; what it would win with dry-run)
 */
public record ImageRecord(String image, Finding result, long leaks, long corruptions, long checkErrors,
        boolean dirtyJournal, boolean replayed, long durationMs, long sizeBefore, long sizeAfter,
        long bytesScanned, long bytesWon, String message) {

    public Map<String, Object> toJson(String job) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("image", image);
        m.put("result", result.label());
        m.put("leaks", leaks);
        m.put("corruptions", corruptions);
        m.put("check-errors", checkErrors);
        m.put("dirty-journal", dirtyJournal);
        m.put("replayed", replayed);
        m.put("duration-ms", durationMs);
        if (sizeBefore >= 0 || "dedup-compaction".equals(job)) {
            m.put("size-before", sizeBefore);
            m.put("size-after", sizeAfter);
        }
        if (bytesWon != 0 || "dedup-compaction".equals(job)) {
            m.put("bytes-won", bytesWon);
        }
        m.put("bytes-scanned", bytesScanned);
        if (message != null && !message.isEmpty()) {
            m.put("message", message);
        }
        return m;
    }

    /** Minimal JSON: the values here are strings, numbers and booleans only. */
    public static String json(Map<String, Object> m) {
        StringBuilder sb = new StringBuilder("{");
        for (Map.Entry<String, Object> e : m.entrySet()) {
            if (sb.length() > 1) {
                sb.append(", ");
            }
            quote(sb, e.getKey());
            sb.append(": ");
            Object v = e.getValue();
            if (v instanceof String s) {
                quote(sb, s);
            } else {
                sb.append(v);
            }
        }
        return sb.append('}').toString();
    }

    static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
