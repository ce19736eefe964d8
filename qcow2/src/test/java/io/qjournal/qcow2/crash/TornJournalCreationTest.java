package io.qjournal.qcow2.crash;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.storage.MemoryStorage;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Regression (crash suite, seed 20261125, states random-overwrite:4:1 and discard-realloc:4:0):
 * power lost while the header that creates the journal was written, with only its first sector
 * on disk. The journal bits landed, the extension naming the journal did not; nothing was ever
 * journalled. A writable open must clear the bits, so QEMU can open the image again.
 */
class TornJournalCreationTest {
    @Test
    void journalBitsWithoutTheExtensionAreClearedByAWritableOpen() throws IOException {
        MemoryStorage s = new MemoryStorage("torn.qcow2");
        Qcow2Image.create(s, new CreateOptions().size(4 << 20));
        byte[] data = new byte[4096];
        java.util.Arrays.fill(data, (byte) 0x3c);
        try (Qcow2Image img = Qcow2Image.open(s, OpenOptions.readWrite(), null)) {
            img.write(8192, data, 0, data.length);
        }
        Header h = CrashImages.header(s);
        Header.Builder b = h.toBuilder();
        b.set(Feature.JOURNAL_DIRTY, true);
        b.set(Feature.JOURNAL_VALID, true);
        Header torn = b.build();
        assertNull(torn.extension(HeaderExtension.JOURNAL), "premise: no journal extension");
        byte[] enc = HeaderCodec.encode(torn);
        s.write(0, enc, 0, enc.length);

        try (Qcow2Image img = Qcow2Image.open(s, OpenOptions.readWrite().journal(JournalOptions.defaults()), null)) {
            byte[] back = new byte[4096];
            img.read(8192, back, 0, back.length);
            assertArrayEquals(data, back);
        }
        Header after = CrashImages.header(s);
        assertFalse(after.has(Feature.JOURNAL_DIRTY), "journal dirty bit left behind");
        assertFalse(after.has(Feature.JOURNAL_VALID), "journal valid bit left behind");
        CheckResult r = ImageChecker.check(s, RepairMode.NONE);
        assertTrue(r.isClean(), () -> "after the writable open: " + r.messages());
    }
}
