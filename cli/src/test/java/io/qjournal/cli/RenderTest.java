package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.check.CheckResult;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Human and JSON renderings that do not need an image. */
class RenderTest {
    private static CheckResult result(long corruptions, long leaks, long alloc, long frag, long comp) {
        return new CheckResult("f", 0, 524288, corruptions, leaks, 0, 0, 160, alloc, frag, comp, List.of());
    }

    @Test
    void checkHumanClean() {
        assertEquals("No errors were found on the image.\n"
                + "1/160 = 0.62% allocated, 0.00% fragmented, 0.00% compressed clusters\n"
                + "Image end offset: 524288\n", CheckCommand.human(result(0, 0, 1, 0, 0)));
    }

    @Test
    void checkHumanLeaksAndCorruptions() {
        assertEquals("\n3 errors were found on the image.\n"
                + "Data may be corrupted, or further writes to the image may corrupt it.\n"
                + "\n2 leaked clusters were found on the image.\n"
                + "This means waste of disk space, but no harm to data.\n"
                + "4/160 = 2.50% allocated, 50.00% fragmented, 25.00% compressed clusters\n"
                + "Image end offset: 524288\n", CheckCommand.human(result(3, 2, 4, 2, 1)));
    }

    @Test
    void checkJsonOmitsZeroMembersAsQemuDoes() {
        Map<String, Object> m = CheckCommand.toJson("f", result(0, 2, 1, 0, 0), 0, 0);
        assertEquals(List.of("filename", "format", "check-errors", "image-end-offset", "leaks", "total-clusters",
                "allocated-clusters"), List.copyOf(m.keySet()));
        Map<String, Object> fixed = CheckCommand.toJson("f", result(0, 0, 1, 0, 0), 2, 0);
        assertEquals(2L, fixed.get("leaks-fixed"));
        assertFalse(fixed.containsKey("corruptions-fixed"));
    }

    @Test
    void infoHumanNestsTheJournalBlock() {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("compat", "1.1");
        data.put("refcount-bits", 16L);
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("present", true);
        j.put("synced-seq", 7L);
        data.put("journal", j);
        Map<String, Object> fs = new LinkedHashMap<>();
        fs.put("type", "qcow2");
        fs.put("data", data);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("filename", "t.qcow2");
        m.put("format", "qcow2");
        m.put("virtual-size", 1L << 30);
        m.put("actual-size", 200704L);
        m.put("cluster-size", 65536L);
        m.put("dirty-flag", true);
        m.put("backing-filename", "b.raw");
        m.put("full-backing-filename", "dir/b.raw");
        m.put("format-specific", fs);
        assertEquals("image: t.qcow2\nfile format: qcow2\nvirtual size: 1 GiB (1073741824 bytes)\n"
                + "disk size: 196 KiB\ncluster_size: 65536\ncleanly shut down: no\n"
                + "backing file: b.raw (actual path: dir/b.raw)\n"
                + "Format specific information:\n    compat: 1.1\n    refcount bits: 16\n"
                + "    journal:\n        present: true\n        synced seq: 7\n", InfoCommand.human(m));
    }

    @Test
    void backingNamesResolveAgainstTheImage() {
        assertEquals("base.raw", Images.fullBackingName("img.qcow2", "base.raw"));
        assertEquals("/a/base.raw", Images.fullBackingName("/a/img.qcow2", "base.raw"));
        assertEquals("/abs/b", Images.fullBackingName("/a/img.qcow2", "/abs/b"));
        assertTrue(Images.fullBackingName("d/i.qcow2", "../b").endsWith("d/../b"));
    }
}
