package io.qjournal.qcow2.journal;

import io.qjournal.qcow2.storage.ForwardingStorage;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.function.Supplier;

/**
 * The image file as the data path sees it while guest data may travel in the journal: reads
 * see journalled bytes over the file's, and a write over bytes that are still only in the
 * journal joins the journal too, so the checkpoint cannot later put older bytes over it.
 * Without a live journal every call goes straight to the file.
 */
public final class DataStorage extends ForwardingStorage {
    private final Supplier<JournalMetadataWriter> journal;

    public DataStorage(Storage base, Supplier<JournalMetadataWriter> journal) {
        super(base);
        this.journal = journal;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        JournalMetadataWriter jw = journal.get();
        int len = dst.remaining();
        if (jw == null || !jw.hasDataIn(offset, len)) {
            base.read(offset, dst);
            return;
        }
        byte[] tmp = new byte[len];
        base.read(offset, tmp, 0, len);
        jw.overlayData(offset, tmp, 0, len);
        dst.put(tmp);
    }

    @Override
    public void read(long offset, byte[] dst, int off, int len) throws IOException {
        base.read(offset, dst, off, len);
        JournalMetadataWriter jw = journal.get();
        if (jw != null) {
            jw.overlayData(offset, dst, off, len);
        }
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
        JournalMetadataWriter jw = journal.get();
        int len = src.remaining();
        if (jw != null && jw.hasDataIn(offset, len)) {
            byte[] b = new byte[len];
            src.get(b);
            jw.journalData(offset, b);
            return;
        }
        base.write(offset, src);
    }

    @Override
    public void write(long offset, byte[] src, int off, int len) throws IOException {
        JournalMetadataWriter jw = journal.get();
        if (jw != null && jw.hasDataIn(offset, len)) {
            jw.journalData(offset, java.util.Arrays.copyOfRange(src, off, off + len));
            return;
        }
        base.write(offset, src, off, len);
    }

    /** The data path does not own the file: the image closes it. */
    @Override
    public void close() {
    }
}
