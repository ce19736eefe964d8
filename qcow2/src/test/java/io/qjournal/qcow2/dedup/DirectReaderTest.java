package io.qjournal.qcow2.dedup;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DirectReaderTest {
    @TempDir
    Path dir;

    @Test
    void alignedReadsSeeTheFileIncludingBytesNotYetFlushedAndOddOnesAreRefused() throws IOException {
        Path f = dir.resolve("d.img");
        byte[] content = new byte[3 << 20];
        new Random(42).nextBytes(content);
        Files.write(f, content);
        try (FileStorage fs = FileStorage.open(f, true)) {
            byte[] fresh = new byte[65536];
            new Random(43).nextBytes(fresh);
            // Written, not flushed: still only in the page cache.
            fs.write(1 << 20, ByteBuffer.wrap(fresh));
            System.arraycopy(fresh, 0, content, 1 << 20, fresh.length);
            try (DirectReader r = DirectReader.open(fs, 65536)) {
                assertNotNull(r, "premise: this file system takes O_DIRECT (ext4 here)");
                ByteBuffer buf = Deduplicator.aligned(1 << 20);
                assertTrue(r.read(1 << 20, buf), "aligned read");
                byte[] got = new byte[buf.flip().remaining()];
                buf.get(got);
                assertArrayEquals(Arrays.copyOfRange(content, 1 << 20, (2 << 20)), got, "bytes as the file holds them");
                assertFalse(r.read(512, Deduplicator.aligned(4096)), "unaligned offset");
                assertFalse(r.read(4096, Deduplicator.aligned(8192).limit(1000)), "unaligned length");
                assertFalse(r.read(3 << 20, Deduplicator.aligned(4096)), "at the end of the file");
            }
            assertNull(DirectReader.open(fs, 512), "clusters smaller than a page are read through the cache");
        }
        assertNull(DirectReader.open(new MemoryStorage("m", new byte[4096]), 65536), "only files");
    }
}
