package io.qjournal.qcow2;

import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.journal.JournalExtension;
import io.qjournal.qcow2.storage.Extent;
import io.qjournal.qcow2.storage.OverlayStorage;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.util.List;

/** For tools that read an image's structures directly (the checker): see it with its journal applied. */
public final class JournalReplay {
    private JournalReplay() {
    }

    /**
     * The storage as it is after replaying a valid journal: replayed in place when
     * {@code inPlace}, else into an in-memory overlay (the file stays untouched). Images
     * without a valid journal come back as they are.
     */
    public static Storage consistentView(Storage storage, boolean inPlace) throws IOException {
        Header h = OpenSupport.readHeader(storage);
        JournalExtension ext = JournalExtension.of(h, storage.name());
        if (ext == null || !h.has(Feature.JOURNAL_VALID)) {
            return storage;
        }
        Storage target = inPlace ? storage : new OverlayStorage(storage);
        JournalSupport.recover(target, h, ext);
        Header after = OpenSupport.readHeader(target);
        JournalSupport.repairAfterReplay(target, after, JournalExtension.of(after, target.name()));
        return target;
    }

    /** The journal's clusters, when the image has a valid journal. */
    public static List<Extent> journalRanges(Header h, String file) throws IOException {
        JournalExtension ext = JournalExtension.of(h, file);
        if (ext == null || !h.has(Feature.JOURNAL_VALID)) {
            return List.of();
        }
        return List.of(new Extent(ext.offset(), ext.clusters(h.clusterSize()) * h.clusterSize()));
    }
}
