package io.qjournal.qcow2.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A flush with nothing written since a completed fdatasync issues none; any write or size
 * change makes the next flush sync again, and the first flush of an opened file always syncs.
 */
class FileStorageFlushTest {
    @TempDir
    Path tmp;

    @Test
    void onlyFlushesThatFollowAChangeSync() throws IOException {
        Path p = tmp.resolve("f.img");
        Files.write(p, new byte[4096]);
        try (FileStorage s = FileStorage.open(p, true)) {
            s.flush();
            assertEquals(1, s.flushCount(), "the first flush syncs what others wrote before the open");
            s.flush();
            assertEquals(1, s.flushCount(), "nothing changed");
            s.write(100, ByteBuffer.wrap(new byte[] {1, 2, 3}));
            s.flush();
            s.flush();
            assertEquals(2, s.flushCount(), "one sync for the write");
            s.truncate(1 << 20);
            s.flush();
            assertEquals(3, s.flushCount(), "a size change syncs");
            s.truncate(8192);
            s.write(0, ByteBuffer.wrap(new byte[16]));
            s.flush();
            assertEquals(4, s.flushCount(), "two changes, one sync");
        }
    }
}
