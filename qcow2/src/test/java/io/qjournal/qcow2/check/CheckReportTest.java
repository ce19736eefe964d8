package io.qjournal.qcow2.check;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class CheckReportTest {
    @Test
    void quotesLikeQemu() {
        assertEquals("\"a\\\"b\\\\c\\n\\u0001\\u007F\\u00E9\\uD83D\\uDE00\"", CheckReport.quote("a\"b\\c\n\u0001\u007fé😀"));
    }

    @Test
    void failedChecksPrintNoReport() {
        CheckResult failed = new CheckResult("f", 1, 0, 0, 0, 0, 0, 16, 0, 0, 0, List.of("Check failed"));
        assertEquals("", CheckReport.human(failed));
        assertEquals("", CheckReport.json(failed, "qcow2"));
        assertEquals(1, failed.exitCode());
    }

    @Test
    void humanReportOfLeaksOnly() {
        CheckResult r = new CheckResult("f", 0, 65536 * 5, 0, 2, 0, 0, 16, 4, 1, 0, List.of());
        assertEquals("\n2 leaked clusters were found on the image.\n"
                + "This means waste of disk space, but no harm to data.\n"
                + "4/16 = 25.00% allocated, 25.00% fragmented, 0.00% compressed clusters\n"
                + "Image end offset: 327680\n", CheckReport.human(r));
        assertEquals(3, r.exitCode());
    }
}
