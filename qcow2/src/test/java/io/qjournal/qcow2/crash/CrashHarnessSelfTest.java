package io.qjournal.qcow2.crash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The crash checks must be able to fail: a disk that ignores flushes loses acknowledged data. */
class CrashHarnessSelfTest {
    @TempDir
    Path tmp;

    @Test
    void lyingFlushIsCaught() throws IOException {
        MemoryStorage s = new MemoryStorage("self.qcow2");
        Qcow2Image.create(s, new CreateOptions().size(8 << 20).clusterSize(4096));
        CrashHarness.Workload w = new CrashHarness.Workload("self-test", s.toByteArray(),
                JournalOptions.parse("size=256K,block-size=4k,commit-interval=3600s"), 1 << 20, 40, (d, rnd) -> {
                    for (int i = 0; i < 20; i++) {
                        byte[] b = new byte[4096];
                        rnd.nextBytes(b);
                        d.write(i * 8192L, b);
                        d.flush();
                    }
                });
        // Only the guest data check is compared: image consistency depends on the engine under test.
        CrashHarness.Report honest = CrashHarness.run(w, tmp, false, false);
        assertEquals(0, honest.dataFailures, () -> String.join("\n", honest.firstFailures));
        CrashHarness.Report lying = CrashHarness.run(w, tmp, false, true);
        assertTrue(lying.dataFailures > 0, "dropped flushes went unnoticed in " + lying.states + " crash states");
        assertTrue(lying.firstFailures.get(0).contains("seed " + lying.seed), lying.firstFailures.get(0));
    }

    @Test
    void modelAcceptsOnlyFlushedOrInFlightValues() {
        GuestModel m = new GuestModel(new byte[16], 16);
        m.add(new GuestModel.Op(GuestModel.Kind.WRITE, 0, 4, new byte[] {1, 1, 1, 1}, 0, 1));
        m.add(new GuestModel.Op(GuestModel.Kind.FLUSH, 0, 0, null, 1, 2));
        m.add(new GuestModel.Op(GuestModel.Kind.WRITE, 2, 4, new byte[] {2, 2, 2, 2}, 2, 3));
        m.add(new GuestModel.Op(GuestModel.Kind.ZERO, 0, 2, null, 3, 4));
        byte[] disk = new byte[16];
        // Crash before the flush returned: the first write may or may not be there.
        assertNull(m.at(1).check(disk, 16));
        // After the flush: the first write must be there.
        assertNotNull(m.at(2).check(disk, 16));
        disk[0] = disk[1] = disk[2] = disk[3] = 1;
        assertNull(m.at(2).check(disk, 16));
        // A write that started before the crash point may have landed, partly.
        disk[3] = 2;
        assertNotNull(m.at(2).check(disk, 16), "a write issued after the crash cannot have landed");
        assertNull(m.at(3).check(disk, 16));
        disk[0] = 0;
        assertNull(m.at(4).check(disk, 16));
        disk[7] = 9;
        assertNotNull(m.at(4).check(disk, 16), "a value nobody wrote is not acceptable");
    }
}
