package io.qjournal.qcow2;

import io.qjournal.qcow2.cache.CachedTable;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.snapshot.SnapshotEntry;
import io.qjournal.qcow2.snapshot.SnapshotTable;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.journal.Journal;
import io.qjournal.qcow2.journal.JournalExtension;
import io.qjournal.qcow2.meta.DirectMetadataWriter;
import io.qjournal.qcow2.meta.JournalMetadataWriter;
import io.qjournal.qcow2.meta.MetaWrite;
import io.qjournal.qcow2.meta.MetadataWriter;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.storage.OverlayStorage;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.table.ClusterMap;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
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
    private final Storage storage;
    private final String file;
    private final Path path;
    private final boolean writable;
    private final BlockDevice backing;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    /** Guest data writes running outside the lock ({@link #guestWrite}); guarded by itself. */
    private final Object dataWrites = new Object();
    private int dataWritesInFlight;
    private IOException dataWriteFailure;
    private MetadataWriter writer;
    private JournalMetadataWriter journalWriter;
    private JournalExtension journalExt;
    private JournalOptions journalOptions;
    private ScheduledExecutorService commitTimer;
    private volatile long lastCommitNanos = System.nanoTime();
    private JournalStatus statusAtOpen = JournalStatus.NONE;
    private volatile Header header;
    private final int clusterBits;
    private final int clusterSize;
    private final ClusterMap map;
    private final RefcountManager refcounts;
    private final DataPath data;
    /** Clusters whose references are gone from cached metadata but maybe not yet from disk. */
    private final List<long[]> deferredFrees = new ArrayList<>();
    private boolean closed;
    private volatile boolean corrupt;
    /** An I/O error lost metadata on its way to disk: the image takes no more writes. */
    private volatile boolean failed;
    private volatile String failure;
    /** Journal options of a writable open whose journal is created by the first write. */
    private JournalOptions deferredJournal;
    private List<SnapshotInfo> snapshots = List.of();
    /** Set by {@link Maintenance}: the clean close cuts the file after the last cluster in use. */
    private boolean truncateOnClose;

    private Qcow2Image(Storage storage, Path path, OpenOptions o, Header h, BlockDevice backing) throws IOException {
        this.storage = storage;
        this.file = storage.name();
        this.path = path;
        this.writable = o.writable;
        this.backing = backing;
        this.header = h;
        this.clusterBits = h.clusterBits();
        this.clusterSize = h.clusterSize();
        this.writer = new DirectMetadataWriter(storage);
        this.map = new ClusterMap(storage, file, clusterBits, h.extendedL2(), h.l1TableOffset(), h.l1Size(),
                o.l2CacheBytes);
        this.refcounts = new RefcountManager(storage, file, clusterBits, h.refcountOrder(),
                h.refcountTableOffset(), h.refcountTableClusters(), o.refcountCacheBytes);
        this.refcounts.setTableMover(this::refcountTableMoved);
        this.data = new DataPath(this);
    }

    /** Opens a qcow2 file; the backing chain is opened relative to the file's directory. */
    public static Qcow2Image open(Path path, OpenOptions options) throws IOException {
        return openChained(path, options, 0);
    }

    static Qcow2Image openChained(Path path, OpenOptions options, int depth) throws IOException {
        FileStorage storage = FileStorage.open(path, options.writable);
        try {
            if (options.lock) {
                storage.lock(options.writable);
            }
            Header h = OpenSupport.readHeader(storage);
            OpenSupport.checkFeatures(h, options.writable, storage.name());
            BlockDevice backing = options.openBacking ? OpenSupport.openBacking(h, path, depth) : null;
            return finishOpen(storage, path, options, h, backing);
        } catch (IOException | RuntimeException e) {
            storage.close();
            throw e;
        }
    }

    /** Opens an image over any storage (tests: memory, fault-injecting, power-loss). */
    public static Qcow2Image open(Storage storage, OpenOptions options, BlockDevice backing) throws IOException {
        Header h = OpenSupport.readHeader(storage);
        OpenSupport.checkFeatures(h, options.writable, storage.name());
        return finishOpen(storage, null, options, h, backing);
    }

    private static Qcow2Image finishOpen(Storage storage, Path path, OpenOptions o, Header h, BlockDevice backing)
            throws IOException {
        JournalExtension ext = JournalExtension.of(h, storage.name());
        boolean valid = ext != null && h.has(Feature.JOURNAL_VALID);
        JournalStatus before = ext == null ? JournalStatus.NONE : JournalSupport.status(storage, h, ext, null);
        Journal recovered = null;
        Storage s = storage;
        if (valid) {
            if (!o.writable) {
                // Replay into memory: the view is consistent and the file stays untouched.
                s = new OverlayStorage(storage);
            }
            recovered = JournalSupport.recover(s, h, ext);
            h = OpenSupport.readHeader(s);
            OpenSupport.checkFeatures(h, o.writable, s.name());
            ext = JournalExtension.of(h, s.name());
            JournalSupport.repairAfterReplay(s, h, ext);
        }
        if (o.writable && h.has(Feature.DIRTY)) {
            h = repairDirty(s, o);
        }
        List<SnapshotInfo> snapshots = new ArrayList<>();
        for (SnapshotEntry e : SnapshotTable.read(s, h)) {
            snapshots.add(new SnapshotInfo(e.id(), e.name(), e.vmStateSize(), e.dateSec(), e.dateNsec(),
                    e.vmClockNsec(), e.diskSize(), e.icount()));
        }
        Qcow2Image img = new Qcow2Image(s, path, o, h, backing);
        img.statusAtOpen = before;
        img.snapshots = List.copyOf(snapshots);
        if (!o.writable) {
            return img;
        }
        try {
            img.clearUnknownAutoclear();
            // Guest contents that do not change leave persistent bitmaps true (offline maintenance).
            MetaWrite bitmaps = o.preservesContents ? null : BitmapsInUse.markAll(img.storage, img.header);
            if (bitmaps != null) {
                img.writer.writeStages(List.of(List.of(bitmaps)));
            }
            boolean bitsWithoutJournal = ext == null
                    && (img.header.has(Feature.JOURNAL_DIRTY) || img.header.has(Feature.JOURNAL_VALID));
            if ((ext != null && !valid) || bitsWithoutJournal) {
                // Invalidated by another program, or a journal whose creation a crash tore (its
                // bits landed, its extension did not: nothing was ever journalled into it).
                img.dropInvalidJournal();
            } else if (recovered != null && o.journal != null) {
                img.attachJournal(recovered, ext, o.journal);
            } else if (recovered != null) {
                img.attachJournal(recovered, ext, JournalOptions.defaults());
                img.removeJournal();
            }
            if (o.journal != null && img.journalWriter == null) {
                if (o.journalAtEnd) {
                    // Maintenance (dedup-compaction) changes metadata without guest writes.
                    img.createJournal(o.journal, true);
                } else {
                    // Created at the first write: an image opened and never written (a daemon
                    // serving a hundred mostly idle images) costs no journal area and no flushes.
                    img.deferredJournal = o.journal;
                }
            }
        } catch (IOException | RuntimeException e) {
            img.storage.close();
            throw e;
        }
        return img;
    }

    /**
     * Lazy refcounts left the dirty bit after a crash: rebuild the refcounts (qemu-img check
     * -r all) and clear the bit before writing, as QEMU does at open.
     */
    private static Header repairDirty(Storage storage, OpenOptions o) throws IOException {
        if (!o.repairDirty) {
            throw new Qcow2Exception(storage.name(), "image has the dirty bit set (lazy refcounts after a crash);"
                    + " repair it with 'qjournal check -r all'");
        }
        CheckResult r = ImageChecker.check(storage, RepairMode.ALL);
        if (r.checkErrors() > 0 || r.corruptions() > 0) {
            throw new Qcow2Exception(storage.name(), "the dirty image could not be repaired ("
                    + r.corruptions() + " corruptions remain)");
        }
        Header.Builder b = OpenSupport.readHeader(storage).toBuilder();
        b.set(Feature.DIRTY, false);
        new DirectMetadataWriter(storage).writeStages(List.of(List.of(new MetaWrite(0, HeaderCodec.encode(b.build())))));
        return OpenSupport.readHeader(storage);
    }

    /** Creates a new image file (qemu-img create -f qcow2). */
    public static void create(Path path, CreateOptions options) throws IOException {
        long backingSize = -1;
        if (options.backingFile != null) {
            Path dir = path.toAbsolutePath().getParent();
            Path b = dir.resolve(options.backingFile);
            String fmt = options.backingFormat != null ? options.backingFormat : OpenSupport.probeFormat(b);
            try (BlockDevice dev = fmt.equals("qcow2")
                    ? Qcow2Image.open(b, OpenOptions.readOnly().lock(false).openBacking(false)) : RawImage.open(b)) {
                backingSize = dev.size();
            }
        }
        try (FileStorage s = FileStorage.create(path)) {
            long size = options.size > 0 || options.backingFile == null ? options.size : backingSize;
            ImageFormatter.format(s, options, size);
        }
        if (options.preallocation == CreateOptions.Preallocation.METADATA) {
            try (Qcow2Image img = open(path, OpenOptions.readWrite().openBacking(false))) {
                img.preallocateMetadata();
            }
        }
    }

    /** Formats an empty storage as a new image (no backing file lookup). */
    public static void create(Storage storage, CreateOptions options) throws IOException {
        ImageFormatter.format(storage, options, options.size);
        if (options.preallocation == CreateOptions.Preallocation.METADATA) {
            try (Qcow2Image img = open(storage, OpenOptions.readWrite(), null)) {
                img.preallocateMetadata();
            }
        }
    }

    // ---- accessors used by DataPath ----

    Storage storage() {
        return storage;
    }

    ClusterMap map() {
        return map;
    }

    RefcountManager refcounts() {
        return refcounts;
    }

    int clusterBits() {
        return clusterBits;
    }

    /** Drops a reference to clusters: at once when the writer is atomic, else after the next flush. */
    void release(long hostOffset, long count) throws IOException {
        if (writer.atomic()) {
            refcounts.update(hostOffset, count, -1);
            long first = hostOffset >>> clusterBits;
            for (long c = first; c < first + count; c++) {
                if (refcounts.get(c) == 0) {
                    refcounts.reserve(c);
                    journalWriter.freed(c << clusterBits, clusterSize);
                }
            }
        } else {
            deferredFrees.add(new long[] {hostOffset, count});
        }
    }

    // ---- hooks for Maintenance (offline dedup-compaction) ----

    ReentrantReadWriteLock lock() {
        return lock;
    }

    JournalExtension journalExtension() {
        return journalExt;
    }

    void truncateOnClose() {
        truncateOnClose = true;
    }

    /** The live journal's writer, or null: the data path records delayed copies there. */
    JournalMetadataWriter journalWriter() {
        return journalWriter;
    }

    /**
     * Between clusters of one guest request: commits when the open transaction nears what one
     * journal block of descriptors can describe, so no transaction ever outgrows the journal's
     * format (small blocks with 512-byte clusters hold about 23 entries).
     */
    void commitIfTransactionFull() throws IOException {
        JournalMetadataWriter jw = journalWriter;
        if (jw != null && (map.dirtyWrites() + refcounts.dirtyWrites() + jw.pendingEntries() + 4 >= jw.maxEntries() / 2
                || jw.pendingDataBytes() >= jw.dataBudget())) {
            flushMetadata();
        }
    }

    /** Commits now (from the data path, which holds the write lock). */
    void commitNow() throws IOException {
        flushMetadata();
    }

    /**
     * QEMU's overlap check (overlap-check=cached): refuses to let guest data or a new table land
     * on live metadata, which only a corrupted refcount or L2 entry can ask for; the image is
     * marked corrupt, as QEMU does, and takes no more writes.
     */
    void checkNotMetadata(long hostOffset, long length) throws IOException {
        long first = hostOffset & ~(long) (clusterSize - 1);
        for (long c = first; c < hostOffset + length; c += clusterSize) {
            String what = metadataAt(c);
            if (what != null) {
                markCorrupt();
                throw new Qcow2Exception(file, String.format("Preventing invalid write on metadata (overlaps with %s"
                        + " at 0x%x); image marked as corrupt", what, c));
            }
        }
    }

    private String metadataAt(long c) {
        Header h = header;
        if (c < clusterSize) {
            return "qcow2_header";
        }
        if (overlaps(c, map.l1Offset(), (long) map.l1Size() * 8)) {
            return "active L1 table";
        }
        if (overlaps(c, refcounts.tableOffset(), (long) refcounts.tableClusters() * clusterSize)) {
            return "refcount table";
        }
        if (journalExt != null && overlaps(c, journalExt.offset(), journalExt.size())) {
            return "journal";
        }
        if (map.isL2Table(c)) {
            return "active L2 table";
        }
        if (refcounts.isBlock(c)) {
            return "refcount block";
        }
        return null;
    }

    private boolean overlaps(long cluster, long start, long len) {
        return len > 0 && cluster < start + len && start < cluster + clusterSize;
    }

    private void markCorrupt() {
        corrupt = true;
        try {
            Header.Builder b = header.toBuilder();
            b.set(Feature.CORRUPT, true);
            new DirectMetadataWriter(storage).writeStages(List.of(List.of(new MetaWrite(0, HeaderCodec.encode(b.build())))));
        } catch (IOException e) {
            // The write is refused either way; the bit is a courtesy to the next opener.
        }
    }

    /** Called by the data path for metadata-changing writes that are not safe to commit with their data. */
    void needDataBarrier() {
        if (journalWriter != null) {
            journalWriter.requireDataBarrier();
        }
    }

    // ---- public API ----

    public Header header() {
        return header;
    }

    public int clusterSize() {
        return clusterSize;
    }

    @Override
    public long size() {
        return header.size();
    }

    @Override
    public String name() {
        return file;
    }

    public BlockDevice backing() {
        return backing;
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
            data.read(offset, buf, off, len);
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
            data.read(offset, dst, dst.position(), len);
            dst.position(dst.position() + len);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Writes {@code src.remaining()} bytes from a buffer (direct: no intermediate copy). */
    public void write(long offset, java.nio.ByteBuffer src) throws IOException {
        int len = src.remaining();
        guestWrite(offset, len, true, () -> {
            data.write(offset, src, src.position(), len);
            src.position(src.position() + len);
        });
    }

    public void write(long offset, byte[] buf, int off, int len) throws IOException {
        guestWrite(offset, len, false, () -> data.write(offset, buf, off, len));
    }

    /** Makes the range read as zeros; v3 sets the zero flag on whole clusters instead of writing. */
    public void writeZeroes(long offset, long len) throws IOException {
        guestWrite(offset, len, false, () -> data.writeZeroes(offset, len));
    }

    /** Frees whole clusters in the range (v3: they read as zeros; v2: as the backing file). */
    public void discard(long offset, long len) throws IOException {
        guestWrite(offset, len, false, () -> data.discard(offset, len));
    }

    /** Writes one whole cluster compressed (convert -c); falls back to a normal write. */
    public void writeCompressed(long offset, byte[] cluster) throws IOException {
        if ((offset & (clusterSize - 1)) != 0 || cluster.length != clusterSize) {
            throw new IllegalArgumentException("compressed writes take one whole aligned cluster");
        }
        guestWrite(offset, cluster.length, false, () -> data.writeCompressed(offset, cluster));
    }

    private interface GuestWrite {
        void run() throws IOException;
    }

    /**
     * One guest write under the write lock. An I/O error on the way fail-stops the image: the
     * caches may already hold an allocation whose data or metadata never reached the disk.
     * With {@code deferData}, the data of clusters taken from past the end of the file is
     * written after the lock is released ({@link DataPath#deferFreshData}): the lock then covers
     * only the metadata, and 64 concurrent writers no longer queue behind each other's pwrite.
     * Every other operation waits for such writes first ({@link #awaitDataWrites}).
     */
    private void guestWrite(long offset, long len, boolean deferData, GuestWrite op) throws IOException {
        checkWritable();
        checkRange(offset, len);
        List<DataPath.DeferredWrite> later;
        lock.writeLock().lock();
        try {
            ensureOpen();
            try {
                if (!deferData) {
                    awaitDataWrites();
                }
                startDeferredJournal();
                data.deferFreshData(deferData);
                op.run();
                writebackIfCacheFull();
                later = data.takeDeferred();
            } catch (IOException | RuntimeException e) {
                data.takeDeferred();
                if (e instanceof IOException io) {
                    failStop(io);
                }
                throw e;
            } finally {
                data.deferFreshData(false);
            }
            if (!later.isEmpty()) {
                synchronized (dataWrites) {
                    dataWritesInFlight++;
                }
            }
        } finally {
            lock.writeLock().unlock();
        }
        if (!later.isEmpty()) {
            writeDeferred(later);
        }
    }

    /** The data writes of one guest write, outside the lock; a failure fail-stops the image. */
    private void writeDeferred(List<DataPath.DeferredWrite> writes) throws IOException {
        IOException failed = null;
        try {
            for (DataPath.DeferredWrite w : writes) {
                w.run(storage);
            }
        } catch (IOException e) {
            failed = e;
        } catch (RuntimeException e) {
            failed = new IOException(file + ": " + e, e);
        } finally {
            synchronized (dataWrites) {
                if (failed != null && dataWriteFailure == null) {
                    dataWriteFailure = failed;
                }
                dataWritesInFlight--;
                dataWrites.notifyAll();
            }
        }
        if (failed != null) {
            lock.writeLock().lock();
            try {
                failStop(failed);
            } finally {
                lock.writeLock().unlock();
            }
            throw failed;
        }
    }

    /**
     * Under the write lock: the caller's own data writes left for later are done now, and those
     * of other writers (already outside the lock) are waited for, so whatever the caller writes
     * next (metadata above all) is ordered after every guest write that came before. Waits
     * through interrupts: returning early would let an L2 entry overtake its data.
     */
    void awaitDataWrites() throws IOException {
        List<DataPath.DeferredWrite> mine = data.takeDeferred();
        if (!mine.isEmpty()) {
            for (DataPath.DeferredWrite w : mine) {
                w.run(storage);
            }
        }
        boolean interrupted = false;
        synchronized (dataWrites) {
            while (dataWritesInFlight > 0) {
                try {
                    dataWrites.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (dataWriteFailure != null) {
                failStop(dataWriteFailure);
                throw new IOException(file + ": a guest data write failed: " + dataWriteFailure.getMessage(),
                        dataWriteFailure);
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
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
            flushMetadata();
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
            awaitDataWrites();
            startDeferredJournal();
            Header h = header;
            if (newSize < h.size()) {
                throw new Qcow2Exception(file, "shrinking an image is not supported");
            }
            if (newSize > HeaderCodec.MAX_VIRTUAL_SIZE) {
                throw new Qcow2Exception(file, "new size " + newSize + " is too large");
            }
            long bytesPerL2 = (long) map.l2Entries() << clusterBits;
            long needed = (newSize + bytesPerL2 - 1) / bytesPerL2;
            if (needed * 8 > HeaderCodec.MAX_L1_BYTES) {
                throw new Qcow2Exception(file, "new size " + newSize + " needs an L1 table larger than 32 MiB");
            }
            Header.Builder b = h.toBuilder();
            b.size = newSize;
            if (needed > map.l1Size()) {
                flushMetadata();
                long[] l1 = new long[(int) needed];
                System.arraycopy(map.l1Copy(), 0, l1, 0, map.l1Size());
                int l1Clusters = (int) ((needed * 8 + clusterSize - 1) / clusterSize);
                long newOffset = refcounts.allocate(l1Clusters);
                ByteBuffer buf = ByteBuffer.allocate(l1Clusters * clusterSize);
                for (long e : l1) {
                    buf.putLong(e);
                }
                long oldOffset = map.l1Offset();
                int oldClusters = (int) ((map.l1Size() * 8L + clusterSize - 1) / clusterSize);
                b.l1Size = (int) needed;
                b.l1TableOffset = newOffset;
                Header nh = b.build();
                if (oldOffset != 0 && h.l1Size() > 0) {
                    // Journal: the free goes into the same transaction as the switch; direct
                    // writes: it waits for the header to be durable (deferred).
                    release(oldOffset, oldClusters);
                }
                // New L1 (and the refcounts that account for it) durable before the header.
                writer.writeStages(List.of(refcounts.collectBlockWrites(), refcounts.collectTableWrites(),
                        List.of(new MetaWrite(newOffset, buf.array())),
                        List.of(new MetaWrite(0, HeaderCodec.encode(nh)))));
                header = nh;
                map.replaceL1(newOffset, l1);
            } else {
                Header nh = b.build();
                writeHeader(nh);
            }
            flushMetadata();
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
            flushMetadata();
            if (journalWriter != null) {
                journalWriter.checkpoint();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** The journal's state; {@link JournalStatus#NONE} when the image has none. */
    public JournalStatus journalStatus() throws IOException {
        lock.readLock().lock();
        try {
            if (journalWriter != null && !closed) {
                return JournalSupport.status(storage, header, journalExt, journalWriter.journal());
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
        lock.writeLock().lock();
        try {
            if (journalOptions != null) {
                journalOptions.commitInterval(interval);
                startCommitTimer();
            } else if (deferredJournal != null) {
                deferredJournal.commitInterval(interval);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Changes the commit datasize of the live journal (no effect without one). */
    public void setCommitDatasize(long bytes) {
        lock.writeLock().lock();
        try {
            JournalOptions jo = journalOptions != null ? journalOptions : deferredJournal;
            if (jo != null) {
                jo.commitDatasize(bytes);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * The journal's options (a copy would go stale: read-only use), also before the first
     * write creates the journal; null without a journal.
     */
    public JournalOptions journalOptions() {
        return journalOptions != null ? journalOptions : deferredJournal;
    }

    /** Status of the range starting at {@code offset}, at most {@code maxLength} bytes long. */
    public BlockStatus blockStatus(long offset, long maxLength) throws IOException {
        lock.readLock().lock();
        try {
            ensureOpen();
            if (offset < 0 || offset >= size()) {
                throw new IllegalArgumentException("offset " + offset + " outside the image");
            }
            return data.blockStatus(offset, Math.min(maxLength, size() - offset));
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
                if (writable && failed) {
                    stopCommitTimer();
                    throw new Qcow2Exception(file, "closed after an I/O error without writing; the next open"
                            + " replays the journal (or check -r all repairs leaks)");
                }
                if (writable) {
                    stopCommitTimer();
                    flushMetadata();
                    if (journalWriter != null) {
                        removeJournal();
                    }
                    if (refcounts.hasDirty()) {
                        // Frees applied after the first flush must reach the disk too.
                        flushMetadata();
                    }
                    if (truncateOnClose) {
                        // Nothing is referenced past the last cluster with a refcount (header,
                        // tables and data all are counted), so the cut is safe at any moment.
                        long end = Math.max(1, refcounts.highestUsedCluster() + 1) << clusterBits;
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
                    if (backing != null) {
                        backing.close();
                    }
                }
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    // ---- metadata flushing ----

    private void flushMetadata() throws IOException {
        awaitDataWrites();
        List<List<MetaWrite>> stages = List.of(refcounts.collectBlockWrites(), refcounts.collectTableWrites(),
                map.collectTableWrites(), map.collectL1Writes());
        boolean any = journalWriter != null && journalWriter.hasPending();
        for (List<MetaWrite> s : stages) {
            any |= !s.isEmpty();
        }
        try {
            if (any) {
                writer.writeStages(stages);
            } else {
                writer.flushData();
            }
        } catch (IOException | RuntimeException e) {
            // The collected metadata left the caches but may not be on disk: fail-stop. Nothing
            // more is written, and close leaves a journal (if any) for the next open to replay.
            failStop(e);
            throw e;
        }
        lastCommitNanos = System.nanoTime();
        if (writer.atomic()) {
            refcounts.clearReservations();
        }
        if (!deferredFrees.isEmpty()) {
            List<long[]> frees = new ArrayList<>(deferredFrees);
            deferredFrees.clear();
            for (long[] f : frees) {
                refcounts.update(f[0], f[1], -1);
            }
        }
    }

    /** Writes metadata back when a cache is over its bound or a commit trigger has fired. */
    void writebackIfCacheFull() throws IOException {
        if (map.cacheOverfull() || refcounts.cacheOverfull()) {
            flushMetadata();
            return;
        }
        JournalOptions jo = journalOptions;
        JournalMetadataWriter jw = journalWriter;
        long journalled = jw == null ? 0 : jw.pendingDataBytes();
        if (jo != null && (map.dirtyBytes() + refcounts.dirtyBytes() + journalled >= jo.commitDatasize
                || System.nanoTime() - lastCommitNanos >= jo.commitInterval.toNanos())) {
            flushMetadata();
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
        JournalOptions jo = deferredJournal;
        if (jo != null) {
            deferredJournal = null;
            createJournal(jo, false);
        }
    }

    private void createJournal(JournalOptions jo, boolean atEnd) throws IOException {
        if (header.version() < 3) {
            throw new Qcow2Exception(file, "the journal needs a compat=1.1 (version 3) image");
        }
        long size = (jo.size + clusterSize - 1) / clusterSize * clusterSize;
        int order = Math.min(Integer.numberOfTrailingZeros(jo.blockSize), clusterBits);
        long clusters = size / clusterSize;
        // The clusters' refcounts stay in the cache until the first transaction: a crash
        // before the header names the journal leaves nothing behind, a crash after it is
        // mended by recovery (JournalSupport.repairAfterReplay).
        long offset = atEnd ? refcounts.allocateAtEnd((int) clusters) : refcounts.allocate((int) clusters);
        Journal j = JournalSupport.format(storage, offset, size, order, jo);
        JournalExtension ext = new JournalExtension(offset, size);
        writeHeader(JournalSupport.withJournal(header, ext));
        attachJournal(j, ext, jo);
        flushMetadata();
    }

    private void attachJournal(Journal j, JournalExtension ext, JournalOptions jo) {
        journalExt = ext;
        journalOptions = jo;
        journalWriter = new JournalMetadataWriter(storage, j);
        journalWriter.onCheckpoint(refcounts::clearCopyReservations);
        writer = journalWriter;
        map.setReadOverlay(journalWriter);
        refcounts.setReadOverlay(journalWriter);
        startCommitTimer();
    }

    /**
     * Clean close: the journal clusters' free travels in a last transaction, everything is
     * synced, and only then does the header drop the journal, so QEMU sees a plain image. A
     * crash in between leaves a valid, empty journal whose clusters recovery counts again.
     */
    private void removeJournal() throws IOException {
        stopCommitTimer();
        JournalExtension ext = journalExt;
        refcounts.update(ext.offset(), ext.clusters(clusterSize), -1);
        flushMetadata();
        journalWriter.checkpoint();
        journalWriter = null;
        journalOptions = null;
        writer = new DirectMetadataWriter(storage);
        writeHeader(JournalSupport.withoutJournal(header));
        journalExt = null;
    }

    /** Another program invalidated the journal: forget it, never touch its old clusters. */
    private void dropInvalidJournal() throws IOException {
        writeHeader(JournalSupport.withoutJournal(header));
    }

    private void startCommitTimer() {
        stopCommitTimer();
        JournalOptions jo = journalOptions;
        if (jo == null || jo.commitInterval.isZero()) {
            return;
        }
        commitTimer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "qjournal-commit " + file);
            t.setDaemon(true);
            return t;
        });
        long period = Math.max(1, jo.commitInterval.toMillis());
        commitTimer.scheduleWithFixedDelay(this::timedCommit, period, period, TimeUnit.MILLISECONDS);
    }

    private void stopCommitTimer() {
        if (commitTimer != null) {
            commitTimer.shutdownNow();
            commitTimer = null;
        }
    }

    private void timedCommit() {
        if (!lock.writeLock().tryLock()) {
            return;
        }
        try {
            if (!closed && !failed && journalWriter != null
                    && (map.hasDirty() || refcounts.hasDirty() || journalWriter.hasPending())) {
                flushMetadata();
            }
        } catch (IOException e) {
            // The next guest flush reports the error; the timer must not die silently though.
            stopCommitTimer();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Stops the image after an I/O error while writing: the caches may now hold allocations
     * whose data or metadata never reached the disk, so nothing more is written (a journal, if
     * any, stays for the next open to replay).
     */
    void failStop(Exception e) {
        if (!failed) {
            String m = e.getMessage();
            failure = (m == null ? e.getClass().getSimpleName() : m.replace(file + ": ", ""));
            failed = true;
        }
    }

    /** Why the image stopped taking writes after an I/O error, or null while it is healthy. */
    public String failure() {
        return failed ? failure : null;
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
            boolean cached = map.hasDirty() || refcounts.hasDirty();
            return journalWriter == null ? cached
                    : cached || journalWriter.hasPending() || journalWriter.hasUnsynced();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Journal transactions not yet checkpointed, counting the open one if it holds updates. */
    public int pendingTransactions() {
        lock.readLock().lock();
        try {
            if (closed || journalWriter == null) {
                return 0;
            }
            boolean open = map.hasDirty() || refcounts.hasDirty() || journalWriter.hasPending();
            return journalWriter.unsyncedTransactions() + (open ? 1 : 0);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Whether the image runs with a journal (live, or created by its first write). */
    public boolean journalEnabled() {
        return journalWriter != null || deferredJournal != null;
    }

    private void writeHeader(Header nh) throws IOException {
        awaitDataWrites();
        writer.writeStages(List.of(List.of(new MetaWrite(0, HeaderCodec.encode(nh)))));
        header = nh;
    }

    private void refcountTableMoved(long newOffset, int newClusters, List<MetaWrite> structures, long oldOffset,
            int oldClusters) throws IOException {
        Header.Builder b = header.toBuilder();
        b.refcountTableOffset = newOffset;
        b.refcountTableClusters = newClusters;
        Header nh = b.build();
        MetaWrite headerWrite = new MetaWrite(0, HeaderCodec.encode(nh));
        if (writer.atomic()) {
            // One transaction: pending metadata, the new structures, the header, the old table's free.
            release(oldOffset, oldClusters);
            refcounts.discardTableWrites();
            List<MetaWrite> all = new ArrayList<>(refcounts.collectBlockWrites());
            all.addAll(map.collectTableWrites());
            all.addAll(map.collectL1Writes());
            all.addAll(structures);
            all.add(headerWrite);
            writer.writeStages(List.of(all));
        } else {
            flushMetadataKeepingFrees();
            writer.writeStages(List.of(structures, List.of(headerWrite)));
            release(oldOffset, oldClusters);
        }
        header = nh;
    }

    /** A flush from inside a refcount update: deferred frees wait for the next ordinary flush. */
    private void flushMetadataKeepingFrees() throws IOException {
        awaitDataWrites();
        List<List<MetaWrite>> stages = List.of(refcounts.collectBlockWrites(), refcounts.collectTableWrites(),
                map.collectTableWrites(), map.collectL1Writes());
        writer.writeStages(stages);
    }

    private void clearUnknownAutoclear() throws IOException {
        Header h = header;
        long known = Feature.KNOWN_AUTOCLEAR;
        if (h.version() == 3 && (h.autoclearFeatures() & ~known) != 0) {
            Header.Builder b = h.toBuilder();
            b.autoclearFeatures = h.autoclearFeatures() & known;
            writeHeader(b.build());
        }
    }

    private void preallocateMetadata() throws IOException {
        lock.writeLock().lock();
        try {
            data.preallocate();
            flushMetadata();
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
        if (corrupt) {
            throw new Qcow2Exception(file, "image is marked corrupt and takes no more writes");
        }
        if (failed) {
            throw new Qcow2Exception(file, "an earlier I/O error stopped this image; reopen it to recover");
        }
    }

    private void ensureOpen() throws Qcow2Exception {
        if (closed) {
            throw new Qcow2Exception(file, "image is closed");
        }
    }
}
