package io.qjournal.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.inject.Named;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The Weld container scans nothing: every artifact a job XML file names must be among the bean
 * classes it declares, or the job would fail at its start.
 */
class CdiBootTest {
    private static final String[] JOBS = {"integrity-sweep", "journal-replay", "dedup-compaction"};

    @Test
    void everyArtifactTheJobsNameIsDeclared() throws IOException {
        Set<String> declared = new TreeSet<>();
        for (Class<?> c : CdiBoot.ARTIFACTS) {
            Named n = c.getAnnotation(Named.class);
            assertTrue(n != null, c + " has no @Named");
            declared.add(n.value());
        }
        Set<String> referenced = new TreeSet<>();
        Pattern ref = Pattern.compile("ref=\"([^\"]+)\"");
        for (String job : JOBS) {
            try (InputStream in = CdiBootTest.class.getResourceAsStream("/META-INF/batch-jobs/" + job + ".xml")) {
                assertTrue(in != null, job + ".xml is on the class path");
                Matcher m = ref.matcher(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                while (m.find()) {
                    referenced.add(m.group(1));
                }
            }
        }
        assertEquals(declared, referenced, "declared bean names against the names the job files use");
    }
}
