package io.qjournal.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

class FindingTest {
    @Test
    void worstWinsAndExitCodes() {
        assertEquals(Finding.CORRUPT, Finding.worst(Finding.LEAKS, Finding.CORRUPT));
        assertEquals(Finding.LEAKS, Finding.worst(Finding.LEAKS, Finding.IN_USE));
        assertEquals(Finding.FAILED, Finding.worst(Finding.FAILED, Finding.CORRUPT));
        assertEquals(Finding.DIRTY_JOURNAL, Finding.worst(Finding.DIRTY_JOURNAL, Finding.LEAKS));
        assertEquals(Map.of(0, "CLEAN", 3, "LEAKS", 2, "CORRUPT", 1, "FAILED", 4, "DIRTY-JOURNAL", 5, "IN-USE"),
                Map.of(Finding.CLEAN.exitCode(), "CLEAN", Finding.LEAKS.exitCode(), "LEAKS",
                        Finding.CORRUPT.exitCode(), "CORRUPT", Finding.FAILED.exitCode(), "FAILED",
                        Finding.DIRTY_JOURNAL.exitCode(), "DIRTY-JOURNAL", Finding.IN_USE.exitCode(), "IN-USE"));
        for (Finding f : Finding.values()) {
            assertEquals(f, Finding.ofLabel(f.label()));
        }
    }

    @Test
    void jsonQuotesAndKeys() {
        ImageRecord r = new ImageRecord("/a \"b\"\\c\n.qcow2", Finding.LEAKS, 2, 0, 0, false, false, 5, 10, 10, 10, 0,
                "x\ty");
        String j = ImageRecord.json(r.toJson("integrity-sweep"));
        assertEquals("{\"image\": \"/a \\\"b\\\"\\\\c\\n.qcow2\", \"result\": \"LEAKS\", \"leaks\": 2, \"corruptions\": 0,"
                + " \"check-errors\": 0, \"dirty-journal\": false, \"replayed\": false, \"duration-ms\": 5,"
                + " \"size-before\": 10, \"size-after\": 10, \"bytes-scanned\": 10, \"message\": \"x\\ty\"}", j);
        String d = ImageRecord.json(r.toJson("dedup-compaction"));
        assertEquals(true, d.contains("\"bytes-won\": 0"));
    }
}
