package io.qjournal.qcow2.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.journal.format.JournalExtension;
import io.qjournal.qcow2.storage.Extent;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A live journal's area belongs to the image: neither a leak nor, when named twice, a corruption. */
class JournalRangeTest {
    @TempDir
    Path dir;

    @Test
    void liveJournalClustersAreNotLeaks() throws IOException {
        Path img = dir.resolve("j.qcow2");
        Qcow2Image.create(img, new CreateOptions().size(16L << 20));
        byte[] live;
        try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readWrite().journal(JournalOptions.defaults()))) {
            q.write(0, new byte[65536], 0, 65536);
            q.flush();
            // The file as a crash would leave it: journal attached.
            live = Files.readAllBytes(img);
        }
        MemoryStorage s = new MemoryStorage("live.qcow2", live);
        var h = ImageChecker.readHeader(s);
        JournalExtension j = JournalExtension.of(h, "live.qcow2");
        assertTrue(j != null && h.has(Feature.JOURNAL_VALID), "the live image has a valid journal");
        CheckResult r = ImageChecker.check(s, RepairMode.NONE);
        assertEquals(0, r.exitCode(), r.messages().toString());
        long area = j.clusters(h.clusterSize()) * h.clusterSize();
        CheckResult both = ImageChecker.check(s, RepairMode.NONE, List.of(new Extent(j.offset(), area)));
        assertEquals(0, both.exitCode(), both.messages().toString());
        CheckResult repaired = ImageChecker.check(s, RepairMode.LEAKS);
        assertEquals(0, repaired.exitCode(), repaired.messages().toString());
        assertEquals(0, repaired.leaksFixed(), "the journal's clusters were not freed");
    }
}
