package io.qjournal.jmx;

import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.JournalStatus;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/** A ManagedImage over a real journalled Qcow2Image, standing in for the daemon's. */
final class EngineImage implements ManagedImage {
    private final String name;
    private final Path path;
    private final Consumer<EngineImage> onClose;
    private final AtomicLong bytesRead = new AtomicLong();
    private final AtomicLong bytesWritten = new AtomicLong();

    final Qcow2Image image;
    private final EngineImageView engineState;

    private EngineImage(String name, Path path, Qcow2Image image, Consumer<EngineImage> onClose) {
        this.image = image;
        this.engineState = new EngineImageView(image, () -> false);
        this.name = name;
        this.path = path;
        this.onClose = onClose;
    }

    @Override
    public EngineImageView engineState() {
        return engineState;
    }

    static EngineImage open(String name, Path path, Consumer<EngineImage> onClose) throws IOException {
        Qcow2Image img = Qcow2Image.open(path, OpenOptions.readWrite().journal(JournalOptions.defaults()));
        return new EngineImage(name, path, img, onClose);
    }

    /** Opens over a given storage (e.g. FaultyStorage) instead of the file itself. */
    static EngineImage open(String name, Path path, Storage storage, Consumer<EngineImage> onClose) throws IOException {
        Qcow2Image img = Qcow2Image.open(storage, OpenOptions.readWrite().journal(JournalOptions.defaults()), null);
        return new EngineImage(name, path, img, onClose);
    }

    /** A guest write as the NBD server would issue it. */
    void write(long offset, byte[] data) throws IOException {
        image.write(offset, ByteBuffer.wrap(data));
        bytesWritten.addAndGet(data.length);
    }

    byte[] read(long offset, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        image.read(offset, b);
        bytesRead.addAndGet(len);
        return b.array();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String path() {
        return path.toString();
    }

    @Override
    public boolean readOnly() {
        return !image.isWritable();
    }

    @Override
    public void setCommitIntervalMillis(long millis) {
        image.setCommitInterval(Duration.ofMillis(millis));
    }

    @Override
    public void setCommitDataSize(long bytes) {
        image.setCommitDatasize(bytes);
    }

    @Override
    public boolean replayedAtOpen() {
        return image.journalStatusAtOpen().dirty();
    }

    @Override
    public String health() {
        String f = image.failure();
        return f == null ? "OK" : "FAILED: " + f;
    }

    @Override
    public long bytesRead() {
        return bytesRead.get();
    }

    @Override
    public long bytesWritten() {
        return bytesWritten.get();
    }

    @Override
    public long flushes() {
        return 0;
    }

    @Override
    public int clients() {
        return 0;
    }

    @Override
    public void commit() throws IOException {
        image.commit();
    }

    @Override
    public void forceSync() throws IOException {
        image.commit();
        image.checkpoint();
    }

    @Override
    public void close() throws IOException {
        image.close();
        onClose.accept(this);
    }
}
