package io.qjournal.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.check.RepairMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobParamsTest {
    @TempDir
    Path dir;

    @Test
    void defaultsAndParsing() throws Exception {
        JobParams p = JobParams.parse("integrity-sweep", Map.of("dirs", dir.toString()));
        assertEquals("*.qcow2", p.pattern());
        assertEquals(Runtime.getRuntime().availableProcessors(), p.threads());
        assertEquals(RepairMode.NONE, p.repair());
        assertEquals(false, p.replay());
        assertEquals(true, JobParams.parse("journal-replay", Map.of("dirs", dir.toString())).replay());
        JobParams q = JobParams.parse("integrity-sweep", Map.of("dirs", dir + "," + dir, "threads", "3",
                "repair", "all", "replay", "true", "pattern", "*.img"));
        assertEquals(3, q.threads());
        assertEquals(RepairMode.ALL, q.repair());
        assertEquals(2, q.dirs().size());
    }

    @Test
    void badParametersAreOneClearLine() {
        String[][] cases = {
            {"nightly", "dirs=" + dir, "unknown job 'nightly'"},
            {"integrity-sweep", "", "parameter dirs is required"},
            {"integrity-sweep", "dirs=" + dir.resolve("nope"), "nope: No such directory"},
            {"integrity-sweep", "dirs=" + dir + ";threads=0", "threads=0: expecting a number from 1 to 256"},
            {"integrity-sweep", "dirs=" + dir + ";threads=x", "threads=x: expecting a number"},
            {"integrity-sweep", "dirs=" + dir + ";repair=most", "repair=most: expecting leaks or all"},
            {"journal-replay", "dirs=" + dir + ";repair=leaks", "repair applies to integrity-sweep only"},
            {"dedup-compaction", "dirs=" + dir + ";dry-run=yes", "dry-run=yes: expecting true or false"},
            {"integrity-sweep", "dirs=" + dir + ";pattern=a/b", "must be a file name glob"},
            {"integrity-sweep", "dirs=" + dir + ";colour=red", "unknown parameter 'colour'"},
        };
        for (String[] c : cases) {
            Map<String, String> m = new java.util.HashMap<>();
            for (String kv : c[1].split(";")) {
                if (!kv.isEmpty()) {
                    m.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
                }
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JobParams.parse(c[0], m));
            assertTrue(e.getMessage().contains(c[2]), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }

    @Test
    void imagesMatchThePatternSortedOnce() throws Exception {
        Path sub = Files.createDirectories(dir.resolve("sub"));
        Files.writeString(dir.resolve("b.qcow2"), "");
        Files.writeString(dir.resolve("a.qcow2"), "");
        Files.writeString(dir.resolve("c.raw"), "");
        Files.createDirectories(dir.resolve("d.qcow2"));
        Files.createSymbolicLink(sub.resolve("link.qcow2"), dir.resolve("a.qcow2"));
        JobParams p = JobParams.parse("integrity-sweep", Map.of("dirs", dir + "," + sub + "," + dir));
        assertEquals(List.of(dir.toRealPath().resolve("a.qcow2"), dir.toRealPath().resolve("b.qcow2")), p.images());
    }

    @Test
    void emptyJslPropertiesMeanUnset() {
        Properties props = new Properties();
        props.setProperty("dirs", dir.toString());
        props.setProperty("threads", "");
        props.setProperty("repair", "");
        JobParams p = JobParams.fromProperties("integrity-sweep", props);
        assertEquals(RepairMode.NONE, p.repair());
    }
}
