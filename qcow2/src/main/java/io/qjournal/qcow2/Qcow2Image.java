package io.qjournal.qcow2;

import io.qjournal.qcow2.cluster.ClusterAllocator;
import io.qjournal.qcow2.cluster.ClusterReader;
import io.qjournal.qcow2.cluster.ClusterStatus;
import io.qjournal.qcow2.cluster.ClusterWriter;
import io.qjournal.qcow2.cluster.CompressedWrites;
import io.qjournal.qcow2.cluster.DeferredDataWrites;
import io.qjournal.qcow2.cluster.ImageState;
import io.qjournal.qcow2.cluster.WriteSource;
import io.qjournal.qcow2.cluster.ZeroesAndDiscard;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.journal.ImageJournal;
import io.qjournal.qcow2.journal.JournalMetadataWriter;
import io.qjournal.qcow2.journal.format.Journal;
import io.qjournal.qcow2.journal.format.JournalExtension;
import io.qjournal.qcow2.meta.MetaWrite;
import io.qjournal.qcow2.meta.MetadataWriter;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An open qcow2 image: the engine's facade. Safe for concurrent use from many threads: reads
 * share a lock, anything that may change metadata takes it exclusively (QEMU's s->lock).
 *
 * <p>Metadata changes live in the L2 and refcount caches until a flush hands them to the
 * {@link MetadataWriter} in dependency order: refcount blocks, refcount table entries, L2
 * tables, L1 entries. Guest data is written in place before the flush that publishes it.
 */
public final class Qcow2Image implements BlockDevice {
    private final ImageState state;
    private final Storage storage;
    private final String file;
    private final Path path;
    private final boolean writable;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final ImageJournal journal;
    private final MetadataWriteback writeback;
    private final ClusterReader reader;
    private final ClusterWriter writer;
    private final ClusterAllocator allocator;
    private final ZeroesAndDiscard zeroes;
    private final CompressedWrites compressed;
    private final ClusterStatus status;
    private JournalStatus statusAtOpen = JournalStatus.NONE;
    private boolean closed;
    private List<SnapshotInfo> snapshots = List.of();
    /** Set by {@link Maintenance}: the clean close cuts the file after the last cluster in use. */
    private boolean truncateOnClose;

    private Qcow2Image(ImageState state, Path path, OpenOptions o) {
        this.state = state;
        this.storage = state.file();
        this.file = state.name();
        this.path = path;
        this.writable = o.writable;
        this.writeback = new MetadataWriteback(state);
        state.useWriteback(writeback);
        state.refcounts().setTableMover(writeback::refcountTableMoved);
        this.journal = new ImageJournal(state, this::timedCommit);
        this.reader = new ClusterReader(state);
        this.allocator = new ClusterAllocator(state);
        this.writer = new ClusterWriter(state, reader, allocator);
        this.zeroes = new ZeroesAndDiscard(state, writer, allocator);
        this.compressed = new CompressedWrites(state, writer, allocator);
        this.status = new ClusterStatus(state);
    }

    /** Opens a qcow2 file; the backing chain is opened relative to the file's directory. */
    public static Qcow2Image open(Path path, OpenOptions options) throws IOException {
        return ImageOpener.open(path, options, 0);
    }

    /** Opens an image over any storage (tests: memory, fault-injecting, power-loss). */
    public static Qcow2Image open(Storage storage, OpenOptions options, BlockDevice backing) throws IOException {
        return ImageOpener.open(storage, options, backing);
    }

    /** Creates a new image file (qemu-img create -f qcow2). */
    public static void create(Path path, CreateOptions options) throws IOException {
        ImageOpener.create(path, options);
    }

    /** Formats an empty storage as a new image (no backing file lookup). */
    public static void create(Storage storage, CreateOptions options) throws IOException {
        ImageOpener.create(storage, options);
    }

    /**
     * The last step of every open, over storage whose journal (if valid) is already replayed:
     * {@code ext}, {@code valid} and {@code recovered} say what the replay found.
     */
    static Qcow2Image opened(ImageState state, Path path, OpenOptions o, JournalStatus before,
            List<SnapshotInfo> snapshots, JournalExtension ext, boolean valid, Journal recovered) throws IOException {
        Qcow2Image img = new Qcow2Image(state, path, o);
        img.statusAtOpen = before;
        img.snapshots = List.copyOf(snapshots);
        if (!o.writable) {
            return img;
        }
        try {
            img.prepareForWrites(o, ext, valid, recovered);
        } catch (IOException | RuntimeException e) {
            img.storage.close();
            throw e;
        }
        return img;
    }

    private void prepareForWrites(OpenOptions o, JournalExtension ext, boolean valid, Journal recovered)
            throws IOException {
        clearUnknownAutoclear();
        // Guest contents that do not change leave persistent bitmaps true (offline maintenance).
        MetaWrite bitmaps = o.preservesContents ? null : BitmapsInUse.markAll(storage, state.header());
        if (bitmaps != null) {
            writeback.writer().writeStages(List.of(List.of(bitmaps)));
        }
        journal.openForWrites(ext, valid, recovered, o.journal, o.journalAtEnd);
    }

    // ---- hooks for Maintenance (offline dedup-compaction) ----

    ImageState state() {
        return state;
    }

    /** Metadata write-back: release, commits. */
    MetadataWriteback writeback() {
        return writeback;
    }

    ReentrantReadWriteLock lock() {
        return lock;
    }

    void truncateOnClose() {
        truncateOnClose = true;
    }

    // ---- public API ----

    public Header header() {
        return state.header();
    }

    public int clusterSize() {
        return state.clusterSize();
    }

    @Override
    public long size() {
        return state.header().size();
    }

    @Override
    public String name() {
        return file;
    }

    public BlockDevice backing() {
        return state.backing();
    }

    public boolean isWritable() {
        return writable;
    }

    @Override
    public void read(long offset, byte[] buf, int off, int len) throws IOException {
        checkRange(offset, len);
        lock.readLock().lock();
        try {
            ensureOpen();
            reader.read(offset, buf, off, len);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Reads {@code dst.remaining()} bytes into a buffer; with a direct buffer, data clusters are
     * read from the file without an intermediate copy. Advances the buffer's position.
     */
    public void read(long offset, java.nio.ByteBuffer dst) throws IOException {
        int len = dst.remaining();
        checkRange(offset, len);
        lock.readLock().lock();
        try {
            ensureOpen();
            reader.read(offset, dst, dst.position(), len);
            dst.position(dst.position() + len);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Writes {@code src.remaining()} bytes from a buffer (direct: no intermediate copy). */
    public void write(long offset, java.nio.ByteBuffer src) throws IOException {
        int len = src.remaining();
        guestWrite(offset, len, true, () -> {
            writer.write(offset, WriteSource.of(src), src.position(), len, true);
            src.position(src.position() + len);
        });
    }

    public void write(long offset, byte[] buf, int off, int len) throws IOException {
        guestWrite(offset, len, false, () -> writer.write(offset, WriteSource.of(buf), off, len, false));
    }

    /** Makes the range read as zeros; v3 sets the zero flag on whole clusters instead of writing. */
    public void writeZeroes(long offset, long len) throws IOException {
        guestWrite(offset, len, false, () -> zeroes.writeZeroes(offset, len));
    }

    /** Frees whole clusters in the range (v3: they read as zeros; v2: as the backing file). */
    public void discard(long offset, long len) throws IOException {
        guestWrite(offset, len, false, () -> zeroes.discard(offset, len));
    }

    /** Writes one whole cluster compressed (convert -c); falls back to a normal write. */
    public void writeCompressed(long offset, byte[] cluster) throws IOException {
        if ((offset & (clusterSize() - 1)) != 0 || cluster.length != clusterSize()) {
            throw new IllegalArgumentException("compressed writes take one whole aligned cluster");
        }
        guestWrite(offset, cluster.length, false, () -> compressed.write(offset, cluster));
    }

    private interface GuestWrite {
        void run() throws IOException;
    }

    /**
     * One guest write under the write lock. An I/O error on the way fail-stops the image: the
     * caches may already hold an allocation whose data or metadata never reached the disk.
     * With {@code deferData}, the data of clusters taken from past the end of the file is
     * written after the lock is released ({@link ClusterWriter#write}): the lock then covers
     * only the metadata, and 64 concurrent writers no longer queue behind each other's pwrite.
     * Every other operation waits for such writes first ({@link #awaitDataWrites}).
     */
    private void guestWrite(long offset, long len, boolean deferData, GuestWrite op) throws IOException {
        checkWritable();
        checkRange(offset, len);
        DeferredDataWrites dataWrites = state.dataWrites();
        List<DeferredDataWrites.DeferredWrite> later;
        lock.writeLock().lock();
        try {
            ensureOpen();
            try {
                if (!deferData) {
                    state.awaitDataWrites();
                }
                startDeferredJournal();
                op.run();
                writeback.writebackIfCacheFull();
                later = dataWrites.takeQueued();
            } catch (IOException | RuntimeException e) {
                dataWrites.takeQueued();
                if (e instanceof IOException io) {
                    state.failStop(io);
                }
                throw e;
            }
            if (!later.isEmpty()) {
                dataWrites.begin();
            }
        } finally {
            lock.writeLock().unlock();
        }
        if (!later.isEmpty()) {
            writeDeferred(later);
        }
    }

    /** The data writes of one guest write, outside the lock; a failure fail-stops the image. */
    private void writeDeferred(List<DeferredDataWrites.DeferredWrite> writes) throws IOException {
        IOException failed = state.dataWrites().run(writes, storage, file);
        if (failed != null) {
            lock.writeLock().lock();
            try {
                state.failStop(failed);
            } finally {
                lock.writeLock().unlock();
            }
            throw failed;
        }
    }

    /** Everything written before the call is durable when it returns. */
    public void flush() throws IOException {
        if (!writable) {
            return;
        }
        checkWritable();
        lock.writeLock().lock();
        try {
            ensureOpen();
            writeback.flush();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Grows the virtual size. */
    public void resize(long newSize) throws IOException {
        checkWritable();
        lock.writeLock().lock();
        try {
            ensureOpen();
            state.awaitDataWrites();
            startDeferredJournal();
            Header h = state.header();
            if (newSize < h.size()) {
                throw new Qcow2Exception(file, "shrinking an image is not supported");
            }
            if (newSize > HeaderCodec.MAX_VIRTUAL_SIZE) {
                throw new Qcow2Exception(file, "new size " + newSize + " is too large");
            }
            long bytesPerL2 = (long) state.map().l2Entries() << state.clusterBits();
            long needed = (newSize + bytesPerL2 - 1) / bytesPerL2;
            if (needed * 8 > HeaderCodec.MAX_L1_BYTES) {
                throw new Qcow2Exception(file, "new size " + newSize + " needs an L1 table larger than 32 MiB");
            }
            writeback.writeSize(newSize, (int) needed);
            writeback.flush();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Commits the open journal transaction: when it returns, every metadata update and every
     * guest write issued before the call is durable. Without a journal this is {@link #flush()}.
     */
    public void commit() throws IOException {
        flush();
    }

    /** Flushes issued to the image file so far (for benchmarks), or -1 if not counted. */
    public long storageFlushes() {
        return storage.flushCount();
    }

    /** Writes committed journal transactions home and advances the synced sequence. */
    public void checkpoint() throws IOException {
        if (!writable) {
            return;
        }
        lock.writeLock().lock();
        try {
            ensureOpen();
            writeback.flush();
            if (journal.writer() != null) {
                journal.writer().checkpoint();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** The journal's state; {@link JournalStatus#NONE} when the image has none. */
    public JournalStatus journalStatus() throws IOException {
        lock.readLock().lock();
        try {
            JournalMetadataWriter jw = journal.writer();
            if (jw != null && !closed) {
                return ImageJournal.status(storage, state.header(), journal.extension(), jw.journal());
            }
            return statusAtOpen;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The journal state found when the image was opened (before any replay). */
    public JournalStatus journalStatusAtOpen() {
        return statusAtOpen;
    }

    /** Changes the commit interval of the live journal (no effect without one). */
    public void setCommitInterval(java.time.Duration interval) {
        JournalOptions.checkCommitInterval(interval);
        lock.writeLock().lock();
        try {
            journal.setCommitInterval(interval);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Changes the commit datasize of the live journal (no effect without one). */
    public void setCommitDatasize(long bytes) {
        JournalOptions.checkCommitDatasize(bytes);
        lock.writeLock().lock();
        try {
            journal.setCommitDatasize(bytes);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * The journal's options (a copy would go stale: read-only use), also before the first
     * write creates the journal; null without a journal.
     */
    public JournalOptions journalOptions() {
        return journal.options();
    }

    /** Status of the range starting at {@code offset}, at most {@code maxLength} bytes long. */
    public BlockStatus blockStatus(long offset, long maxLength) throws IOException {
        lock.readLock().lock();
        try {
            ensureOpen();
            if (offset < 0 || offset >= size()) {
                throw new IllegalArgumentException("offset " + offset + " outside the image");
            }
            return status.blockStatus(offset, Math.min(maxLength, size() - offset));
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Internal snapshots, as read (and validated) at open. */
    public List<SnapshotInfo> snapshots() {
        return snapshots;
    }

    /** Bytes the image file occupies on disk (st_blocks * 512), as qemu-img's actual-size; -1 if unknown. */
    public long actualSize() throws IOException {
        if (path == null) {
            return storage.size();
        }
        return DiskUsage.allocatedBytes(path);
    }

    @Override
    public void close() throws IOException {
        lock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            try {
                if (writable && state.failed()) {
                    journal.stopTimer();
                    throw new Qcow2Exception(file, "closed after an I/O error without writing; the next open"
                            + " replays the journal (or check -r all repairs leaks)");
                }
                if (writable) {
                    journal.stopTimer();
                    writeback.flush();
                    if (journal.writer() != null) {
                        journal.remove();
                    }
                    if (state.refcounts().hasDirty()) {
                        // Frees applied after the first flush must reach the disk too.
                        writeback.flush();
                    }
                    if (truncateOnClose) {
                        // Nothing is referenced past the last cluster with a refcount (header,
                        // tables and data all are counted), so the cut is safe at any moment.
                        long end = Math.max(1, state.refcounts().highestUsedCluster() + 1) << state.clusterBits();
                        if (end < storage.size()) {
                            storage.truncate(end);
                            storage.flush();
                        }
                    }
                }
            } finally {
                try {
                    storage.close();
                } finally {
                    if (state.backing() != null) {
                        state.backing().close();
                    }
                }
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    // ---- journal lifecycle ----

    /**
     * Creates the journal now rather than at the first write, for a writer that knows it will
     * write (a benchmark keeps the creation out of its timed part). No effect otherwise.
     */
    public void startJournal() throws IOException {
        checkWritable();
        lock.writeLock().lock();
        try {
            ensureOpen();
            startDeferredJournal();
        } finally {
            lock.writeLock().unlock();
        }
    }

    private void startDeferredJournal() throws IOException {
        journal.startDeferred();
    }

    /** The commit interval's tick: commits unless a writer holds the lock or nothing is dirty. */
    private void timedCommit() {
        if (!lock.writeLock().tryLock()) {
            return;
        }
        try {
            JournalMetadataWriter jw = journal.writer();
            if (!closed && !state.failed() && jw != null && (state.map().hasDirty() || state.refcounts().hasDirty()
                    || jw.hasPending())) {
                writeback.flush();
            }
        } catch (IOException e) {
            // The next guest flush reports the error; the timer must not die silently though.
            journal.stopTimer();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Why the image stopped taking writes after an I/O error, or null while it is healthy. */
    public String failure() {
        return state.failure();
    }

    /**
     * True while metadata updates are not yet in their final places: cached updates not yet
     * committed, or committed journal transactions not yet checkpointed.
     */
    public boolean isDirty() {
        lock.readLock().lock();
        try {
            if (closed || !writable) {
                return false;
            }
            boolean cached = state.map().hasDirty() || state.refcounts().hasDirty();
            JournalMetadataWriter jw = journal.writer();
            return jw == null ? cached : cached || jw.hasPending() || jw.hasUnsynced();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Journal transactions not yet checkpointed, counting the open one if it holds updates. */
    public int pendingTransactions() {
        lock.readLock().lock();
        try {
            JournalMetadataWriter jw = journal.writer();
            if (closed || jw == null) {
                return 0;
            }
            boolean open = state.map().hasDirty() || state.refcounts().hasDirty() || jw.hasPending();
            return jw.unsyncedTransactions() + (open ? 1 : 0);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Whether the image runs with a journal (live, or created by its first write). */
    public boolean journalEnabled() {
        return journal.enabled();
    }

    private void clearUnknownAutoclear() throws IOException {
        Header h = state.header();
        long known = Feature.KNOWN_AUTOCLEAR;
        if (h.version() == 3 && (h.autoclearFeatures() & ~known) != 0) {
            Header.Builder b = h.toBuilder();
            b.autoclearFeatures = h.autoclearFeatures() & known;
            writeback.writeHeader(b.build());
        }
    }

    void preallocateMetadata() throws IOException {
        lock.writeLock().lock();
        try {
            allocator.preallocate();
            writeback.flush();
        } finally {
            lock.writeLock().unlock();
        }
    }

    private void checkRange(long offset, long len) throws Qcow2Exception {
        if (offset < 0 || len < 0 || offset > size() || len > size() - offset) {
            throw new Qcow2Exception(file, "request at offset " + offset + " (" + len
                    + " bytes) lies beyond the virtual size " + size());
        }
    }

    private void checkWritable() throws Qcow2Exception {
        if (!writable) {
            throw new Qcow2Exception(file, "image is open read-only");
        }
        if (state.corrupt()) {
            throw new Qcow2Exception(file, "image is marked corrupt and takes no more writes");
        }
        if (state.failed()) {
            throw new Qcow2Exception(file, "an earlier I/O error stopped this image; reopen it to recover");
        }
    }

    private void ensureOpen() throws Qcow2Exception {
        if (closed) {
            throw new Qcow2Exception(file, "image is closed");
        }
    }
}
