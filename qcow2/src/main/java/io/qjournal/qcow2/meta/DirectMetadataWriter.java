package io.qjournal.qcow2.meta;

import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.util.List;

/**
 * Metadata written in place with a flush after each stage: the ordering QEMU pays two flushes
 * per allocating guest flush for (refcounts durable before the L2 entries that need them).
 */
public final class DirectMetadataWriter implements MetadataWriter {
    private final Storage storage;

    public DirectMetadataWriter(Storage storage) {
        this.storage = storage;
    }

    @Override
    public void writeStages(List<List<MetaWrite>> stages) throws IOException {
        for (List<MetaWrite> stage : stages) {
            if (stage.isEmpty()) {
                continue;
            }
            for (MetaWrite w : stage) {
                storage.write(w.offset(), w.data(), 0, w.data().length);
            }
            storage.flush();
        }
    }

    @Override
    public boolean atomic() {
        return false;
    }

    @Override
    public void flushData() throws IOException {
        storage.flush();
    }
}
