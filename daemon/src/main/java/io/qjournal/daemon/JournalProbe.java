package io.qjournal.daemon;

import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.journal.format.Journal;
import io.qjournal.qcow2.journal.format.JournalExtension;
import io.qjournal.qcow2.storage.FileStorage;
import java.nio.file.Path;

/**
 * Counts the committed transactions a dirty journal holds, before the open replays them (the
 * replay resets the ring, and the engine reports only the bytes). Reads only; takes no locks.
 */
final class JournalProbe {
    private JournalProbe() {
    }

    /** Committed transactions awaiting replay, 0 for a clean image, -1 when unknown. */
    static int committedTransactions(Path path) {
        try (FileStorage fs = FileStorage.open(path, false)) {
            String name = path.toString();
            Header h = HeaderCodec.read(fs);
            if (!h.has(Feature.JOURNAL_VALID) || !h.has(Feature.JOURNAL_DIRTY)) {
                return 0;
            }
            JournalExtension ext = JournalExtension.of(h, name);
            if (ext == null) {
                return 0;
            }
            return Journal.open(fs, ext.offset(), ext.size()).scan().committed().size();
        } catch (Exception e) {
            // The open itself reports what is wrong with the file; this is only for the log line.
            return -1;
        }
    }
}
