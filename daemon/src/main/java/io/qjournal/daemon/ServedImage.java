package io.qjournal.daemon;

import io.qjournal.daemon.nbd.NbdError;
import io.qjournal.daemon.nbd.NbdExport;
import io.qjournal.jmx.EngineImageView;
import io.qjournal.jmx.ManagedImage;
import io.qjournal.qcow2.BlockStatus;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.JournalStatus;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

/**
 * One open image as NBD serves it and JMX shows it. Fail-stop: the first I/O error on a write
 * or flush (or any error the engine reports through {@link Qcow2Image#failure()}) marks the
 * image FAILED; from then on its clients get EIO and nothing more is written to it, while
 * every other image goes on serving.
 */
public final class ServedImage implements ManagedImage, NbdExport {
    // BLOCK_STATUS answers cover at most this many extents; clients ask again for the rest.
    private static final int MAX_EXTENTS = 256;
    private static final int MAX_PAYLOAD = 32 << 20;

    private final ImageSpec spec;
    private final Qcow2Image image;
    private final EngineImageView engineState;
    private final boolean replayed;
    private final Consumer<ServedImage> onHealthChange;
    private final Closer onClose;
    private final LongAdder bytesRead = new LongAdder();
    private final LongAdder bytesWritten = new LongAdder();
    private final LongAdder flushes = new LongAdder();
    private final AtomicInteger clients = new AtomicInteger();
    private volatile String failure;
    private volatile boolean closed;

    private ServedImage(ImageSpec spec, Qcow2Image image, Consumer<ServedImage> onHealthChange,
            Closer onClose) {
        this.spec = spec;
        this.image = image;
        this.engineState = new EngineImageView(image, this::isClosed);
        this.onHealthChange = onHealthChange;
        this.onClose = onClose;
        JournalStatus s = image.journalStatusAtOpen();
        this.replayed = s.present() && s.valid() && s.dirty();
    }

    /**
     * Opens the image with QEMU-compatible locking (a second daemon or a qemu-io on the same
     * file is refused). {@code onClose} is called by the JMX close() operation. The image and
     * every backing file must lie inside {@code roots}.
     */
    public static ServedImage open(ImageSpec spec, AllowedRoots roots, Consumer<ServedImage> onHealthChange,
            Closer onClose) throws IOException {
        OpenOptions o = spec.readOnly() ? OpenOptions.readOnly() : OpenOptions.readWrite();
        o.lock(true).pathPolicy(roots);
        JournalOptions j = spec.journalOptions();
        if (j != null) {
            o.journal(j);
        }
        // The engine asks the path policy about the image and every backing file before it reads them.
        Qcow2Image img = Qcow2Image.open(spec.path(), o);
        ServedImage s = new ServedImage(spec, img, onHealthChange, onClose);
        if (s.replayed) {
            JournalStatus found = img.journalStatusAtOpen();
            int pending = found.pendingTransactions();
            Log.image(spec.name(), "replayed dirty journal (" + (pending < 0 ? "?" : Integer.toString(pending))
                    + " transactions, " + found.usedBytes() + " bytes) from " + spec.path());
        }
        return s;
    }

    /** Serves an image opened elsewhere (tests: over memory or fault-injecting storage). */
    static ServedImage wrap(ImageSpec spec, Qcow2Image image, Consumer<ServedImage> onHealthChange, Closer onClose) {
        return new ServedImage(spec, image, onHealthChange, onClose);
    }

    public ImageSpec spec() {
        return spec;
    }

    public Qcow2Image engine() {
        return image;
    }

    public boolean isClosed() {
        return closed;
    }

    // ---- NbdExport ----

    @Override
    public String name() {
        return spec.name();
    }

    @Override
    public String description() {
        return spec.exportDescription();
    }

    @Override
    public long size() {
        return image.size();
    }

    @Override
    public boolean readOnly() {
        return spec.readOnly();
    }

    @Override
    public int minimumBlockSize() {
        return 1;
    }

    @Override
    public int preferredBlockSize() {
        // Whole clusters avoid read-modify-write of a cluster's rest; 4K is what clients use anyway.
        return Math.max(4096, Math.min(image.clusterSize(), 2 << 20));
    }

    @Override
    public int maximumPayload() {
        return MAX_PAYLOAD;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        check(false);
        checkRange(offset, dst.remaining());
        int n = dst.remaining();
        try {
            image.read(offset, dst);
        } catch (IOException | RuntimeException e) {
            throw translate("read", e, false);
        }
        bytesRead.add(n);
    }

    @Override
    public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
        check(true);
        checkRange(offset, src.remaining());
        int n = src.remaining();
        try {
            image.write(offset, src);
            bytesWritten.add(n);
            if (fua) {
                image.flush();
            }
        } catch (IOException | RuntimeException e) {
            throw translate("write", e, true);
        }
    }

    @Override
    public void flush() throws IOException {
        check(false);
        flushes.increment();
        if (spec.readOnly()) {
            return;
        }
        try {
            image.flush();
        } catch (IOException | RuntimeException e) {
            throw translate("flush", e, true);
        }
    }

    @Override
    public void trim(long offset, long length, boolean fua) throws IOException {
        check(true);
        checkRange(offset, length);
        try {
            image.discard(offset, length);
            if (fua) {
                image.flush();
            }
        } catch (IOException | RuntimeException e) {
            throw translate("trim", e, true);
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        check(true);
        checkRange(offset, length);
        try {
            // qcow2 zero clusters keep their host allocation when the engine sets the zero flag,
            // so NO_HOLE needs no separate path.
            image.writeZeroes(offset, length);
            bytesWritten.add(length);
            if (fua) {
                image.flush();
            }
        } catch (IOException | RuntimeException e) {
            throw translate("write-zeroes", e, true);
        }
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) throws IOException {
        check(false);
        checkRange(offset, length);
        List<Extent> out = new ArrayList<>();
        try {
            long end = Math.min(size(), offset + length);
            long pos = offset;
            while (pos < end && out.size() < MAX_EXTENTS) {
                BlockStatus bs = image.blockStatus(pos, end - pos);
                if (bs.length() <= 0) {
                    break;
                }
                // As qemu-nbd: no host data = hole; reads as zeros = zero.
                boolean hole = !bs.data();
                boolean zero = bs.zero();
                int last = out.size() - 1;
                if (last >= 0 && out.get(last).hole() == hole && out.get(last).zero() == zero) {
                    out.set(last, new Extent(out.get(last).length() + bs.length(), hole, zero));
                } else {
                    out.add(new Extent(bs.length(), hole, zero));
                }
                pos += bs.length();
            }
        } catch (IOException | RuntimeException e) {
            throw translate("block-status", e, false);
        }
        return out;
    }

    @Override
    public void clientAttached() {
        clients.incrementAndGet();
    }

    @Override
    public void clientDetached() {
        clients.decrementAndGet();
    }

    // ---- fail-stop ----

    private void check(boolean write) throws NbdError {
        if (closed) {
            throw new NbdError(NbdError.ESHUTDOWN, name() + ": image is closed");
        }
        if (write && spec.readOnly()) {
            throw new NbdError(NbdError.EPERM, name() + ": image is read-only");
        }
        String f = failure;
        if (f != null) {
            throw new NbdError(NbdError.EIO, name() + ": image FAILED: " + f);
        }
    }

    /** A client's bad range is its error (EINVAL), never an I/O failure of the image. */
    private void checkRange(long offset, long length) throws NbdError {
        long size = image.size();
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            throw new NbdError(NbdError.EINVAL, name() + ": request at " + offset + " (+" + length
                    + ") lies beyond the size " + size);
        }
    }

    private IOException translate(String op, Exception e, boolean mutating) {
        if (e instanceof NbdError) {
            return (NbdError) e;
        }
        if (closed) {
            return new NbdError(NbdError.ESHUTDOWN, name() + ": image is closed", e);
        }
        if (e instanceof IllegalArgumentException || e instanceof IndexOutOfBoundsException) {
            return new NbdError(NbdError.EINVAL, name() + ": " + op + ": " + Log.reason(e), e);
        }
        String engineFailure = image.failure();
        if (mutating || engineFailure != null) {
            markFailed(engineFailure != null ? engineFailure : op + ": " + Log.reason(e), e);
        } else {
            Log.error(name(), op + " failed: " + Log.reason(e), e);
        }
        String m = String.valueOf(e.getMessage());
        int errno = m.contains("No space left") ? NbdError.ENOSPC : NbdError.EIO;
        return new NbdError(errno, name() + ": " + op + ": " + Log.reason(e), e);
    }

    /** Picks up a failure the engine hit on its own (a timed commit in the background). */
    void pollEngineFailure() {
        String f = image.failure();
        if (f != null && failure == null && !closed) {
            markFailed(f, null);
        }
    }

    /** Marks the image FAILED once: one log line, one JMX notification. */
    void markFailed(String reason, Throwable t) {
        synchronized (this) {
            if (failure != null) {
                return;
            }
            failure = reason;
        }
        Log.error(name(), "FAILED: " + reason + "; its clients get errors until it is closed and reopened", t);
        onHealthChange.accept(this);
    }

    /**
     * Closes cleanly: requests from now on get ESHUTDOWN; the engine waits for those in flight,
     * commits, checkpoints and removes the journal, so qemu-img check is clean. A FAILED image
     * is closed without writing; its journal (if any) is replayed at the next open.
     */
    void closeImage() throws IOException {
        closed = true;
        image.close();
    }

    // ---- ManagedImage (the engine's own state comes from EngineImageView) ----

    @Override
    public EngineImageView engineState() {
        return engineState;
    }

    @Override
    public String path() {
        return spec.path().toAbsolutePath().toString();
    }

    @Override
    public void setCommitIntervalMillis(long millis) {
        // The engine's rule, before anything else: the same words from every path.
        JournalOptions.checkCommitInterval(Duration.ofMillis(millis));
        if (!image.journalEnabled()) {
            throw new IllegalStateException(name() + " runs without a journal");
        }
        image.setCommitInterval(Duration.ofMillis(millis));
        Log.image(name(), "commit interval set to " + millis + " ms");
    }

    @Override
    public void setCommitDataSize(long bytes) {
        JournalOptions.checkCommitDatasize(bytes);
        if (!image.journalEnabled()) {
            throw new IllegalStateException(name() + " runs without a journal");
        }
        image.setCommitDatasize(bytes);
        Log.image(name(), "commit data size set to " + bytes + " bytes");
    }

    @Override
    public boolean replayedAtOpen() {
        return replayed;
    }

    @Override
    public String health() {
        String f = failure;
        if (f == null) {
            f = image.failure();
        }
        return f == null ? "OK" : "FAILED: " + f;
    }

    @Override
    public long bytesRead() {
        return bytesRead.sum();
    }

    @Override
    public long bytesWritten() {
        return bytesWritten.sum();
    }

    @Override
    public long flushes() {
        return flushes.sum();
    }

    @Override
    public int clients() {
        return clients.get();
    }

    @Override
    public void commit() throws IOException {
        if (spec.readOnly()) {
            return;
        }
        check(true);
        try {
            image.commit();
        } catch (IOException | RuntimeException e) {
            throw translate("commit", e, true);
        }
    }

    @Override
    public void forceSync() throws IOException {
        if (spec.readOnly()) {
            return;
        }
        check(true);
        try {
            image.checkpoint();
        } catch (IOException | RuntimeException e) {
            throw translate("checkpoint", e, true);
        }
    }

    @Override
    public void close() throws IOException {
        onClose.close(this);
    }

    /** Who closes an image for JMX's close(): the registry, which also unexports it. */
    public interface Closer {
        void close(ServedImage image) throws IOException;
    }
}
