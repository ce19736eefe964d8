package io.qjournal.batch;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The default H2 repository URL: socket file lock, and compaction at close only for a grown file. */
class BatchSettingsTest {
    @TempDir
    Path state;

    @Test
    void aSmallRepositoryIsNotCompactedAtClose() {
        String url = BatchSettings.h2Url(state);
        assertTrue(url.contains(";FILE_LOCK=SOCKET;AUTO_SERVER=TRUE"), url);
        assertTrue(url.contains(";MAX_COMPACT_TIME=0"), url);
    }

    @Test
    void aGrownRepositoryIsCompactedAtClose() throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(state.resolve("repository.mv.db").toFile(), "rw")) {
            f.setLength(BatchSettings.COMPACT_ABOVE_BYTES + 1);
        }
        String url = BatchSettings.h2Url(state);
        assertFalse(url.contains("MAX_COMPACT_TIME"), url);
    }
}
