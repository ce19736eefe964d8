package io.qjournal.qcow2.crash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.storage.MemoryStorage;
import io.qjournal.qcow2.testsupport.FaultyStorage;
import io.qjournal.qcow2.testsupport.FaultyStorage.Kind;
import io.qjournal.qcow2.testsupport.FaultyStorage.Target;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

class FaultyStorageTest {
    @Test
    void nthWriteFailsOnce() throws IOException {
        MemoryStorage m = new MemoryStorage("m");
        FaultyStorage f = new FaultyStorage(m).failNth("third-write", Target.WRITE, 3, Kind.ENOSPC);
        f.write(0, new byte[10], 0, 10);
        f.write(10, new byte[10], 0, 10);
        IOException e = assertThrows(IOException.class, () -> f.write(20, new byte[10], 0, 10));
        assertTrue(e.getMessage().startsWith("m: ") && e.getMessage().contains("No space left on device"),
                e.getMessage());
        assertEquals(20, m.size(), "the failed write must not land");
        f.write(20, new byte[10], 0, 10);
        assertEquals(List.of("third-write"), f.firedFaults());
    }

    @Test
    void stickyFlushFailure() throws IOException {
        FaultyStorage f = new FaultyStorage(new MemoryStorage("m")).failFromNth("disk-gone", Target.FLUSH, 2, Kind.EIO);
        f.flush();
        assertThrows(IOException.class, f::flush);
        assertThrows(IOException.class, f::flush);
        assertEquals(3, f.flushCount());
        f.clearFaults();
        f.flush();
    }

    @Test
    void shortWriteLandsHalfTheSectors() throws IOException {
        MemoryStorage m = new MemoryStorage("m");
        FaultyStorage f = new FaultyStorage(m).failNth("short", Target.WRITE, 1, Kind.SHORT_WRITE);
        byte[] data = new byte[4096];
        java.util.Arrays.fill(data, (byte) 1);
        assertThrows(IOException.class, () -> f.write(0, data, 0, data.length));
        assertEquals(2048, m.size());
        assertThrows(IllegalArgumentException.class, () -> f.failNth("x", Target.FLUSH, 1, Kind.SHORT_WRITE));
    }
}
