package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.BlockDevice;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.journal.DataStorage;
import io.qjournal.qcow2.journal.JournalMetadataWriter;
import io.qjournal.qcow2.journal.format.JournalExtension;
import io.qjournal.qcow2.meta.DirectMetadataWriter;
import io.qjournal.qcow2.meta.MetaWrite;
import io.qjournal.qcow2.refcount.RefcountManager;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.table.ClusterMap;
import java.io.IOException;
import java.util.List;

/**
 * The state of one open image that every part works on (as H2's MVStore): the file, the
 * cluster map and refcounts with their caches, the header, the live journal, the write-back,
 * the data writes running outside the lock, the overlap guard and the fail-stop. Built at open
 * and handed to the parts, none of which calls back into the facade. Not exported: the
 * facade's lock guards it (changes under the write lock, lookups under the read lock).
 */
public final class ImageState {
    private final Storage file;
    private final Storage data;
    private final String name;
    private final ClusterMap map;
    private final RefcountManager refcounts;
    private final int clusterBits;
    private final int clusterSize;
    private final boolean extendedL2;
    private final int subclusterSize;
    private final int version;
    private final BlockDevice backing;
    private final DeferredDataWrites dataWrites = new DeferredDataWrites();
    private volatile Header header;
    private Writeback writeback;
    private JournalMetadataWriter journalWriter;
    private JournalExtension journalExtension;
    private JournalOptions journalOptions;
    private volatile boolean corrupt;
    /** An I/O error lost metadata on its way to disk: the image takes no more writes. */
    private volatile boolean failed;
    private volatile String failure;

    public ImageState(Storage file, Header h, BlockDevice backing, long l2CacheBytes, long refcountCacheBytes)
            throws IOException {
        this.file = file;
        this.name = file.name();
        this.header = h;
        this.backing = backing;
        this.clusterBits = h.clusterBits();
        this.clusterSize = h.clusterSize();
        this.version = h.version();
        this.map = new ClusterMap(file, name, clusterBits, h.extendedL2(), h.l1TableOffset(), h.l1Size(),
                l2CacheBytes);
        this.refcounts = new RefcountManager(file, name, clusterBits, h.refcountOrder(), h.refcountTableOffset(),
                h.refcountTableClusters(), refcountCacheBytes);
        this.extendedL2 = map.extended();
        this.subclusterSize = extendedL2 ? clusterSize / 32 : clusterSize;
        this.data = new DataStorage(file, this::journalWriter);
    }

    /** The image file itself (metadata, raw copies). */
    public Storage file() {
        return file;
    }

    /** The image file as guest data sees it: journalled bytes over the file's. */
    public Storage data() {
        return data;
    }

    public String name() {
        return name;
    }

    public ClusterMap map() {
        return map;
    }

    public RefcountManager refcounts() {
        return refcounts;
    }

    public int clusterBits() {
        return clusterBits;
    }

    public int clusterSize() {
        return clusterSize;
    }

    public boolean extendedL2() {
        return extendedL2;
    }

    /** Bytes one L2 bitmap bit covers: a cluster without extended L2 entries. */
    public int subclusterSize() {
        return subclusterSize;
    }

    public int version() {
        return version;
    }

    public BlockDevice backing() {
        return backing;
    }

    public Header header() {
        return header;
    }

    /** The header now on disk (the write-back's header updates). */
    public void header(Header h) {
        header = h;
    }

    public Writeback writeback() {
        return writeback;
    }

    public void useWriteback(Writeback w) {
        writeback = w;
    }

    public DeferredDataWrites dataWrites() {
        return dataWrites;
    }

    /** The live journal's writer, or null. */
    public JournalMetadataWriter journalWriter() {
        return journalWriter;
    }

    /** The live journal's place in the file, or null. */
    public JournalExtension journalExtension() {
        return journalExtension;
    }

    /** The live journal's options, or null. */
    public JournalOptions journalOptions() {
        return journalOptions;
    }

    /** A journal goes live (created, or attached after a replay). */
    public void journalAttached(JournalMetadataWriter w, JournalExtension ext, JournalOptions options) {
        journalWriter = w;
        journalExtension = ext;
        journalOptions = options;
    }

    /** The journal's writer is gone; its extension stays named until the header drops it. */
    public void journalDetached() {
        journalWriter = null;
        journalOptions = null;
    }

    /** The header no longer names the journal. */
    public void journalRemoved() {
        journalExtension = null;
    }

    /**
     * QEMU's overlap check (overlap-check=cached): refuses to let guest data or a new table land
     * on live metadata, which only a corrupted refcount or L2 entry can ask for; the image is
     * marked corrupt, as QEMU does, and takes no more writes.
     */
    public void checkNotMetadata(long hostOffset, long length) throws IOException {
        long first = hostOffset & ~(long) (clusterSize - 1);
        for (long c = first; c < hostOffset + length; c += clusterSize) {
            String what = MetadataOverlap.at(c, clusterSize, map, refcounts, journalExtension);
            if (what != null) {
                markCorrupt();
                throw new Qcow2Exception(name, String.format("Preventing invalid write on metadata (overlaps with %s"
                        + " at 0x%x); image marked as corrupt", what, c));
            }
        }
    }

    private void markCorrupt() {
        corrupt = true;
        try {
            Header.Builder b = header.toBuilder();
            b.set(Feature.CORRUPT, true);
            new DirectMetadataWriter(file).writeStages(List.of(List.of(new MetaWrite(0, HeaderCodec.encode(b.build())))));
        } catch (IOException e) {
            // The write is refused either way; the bit is a courtesy to the next opener.
        }
    }

    public boolean corrupt() {
        return corrupt;
    }

    /** For metadata-changing writes that are not safe to commit with their data. */
    public void needDataBarrier() {
        if (journalWriter != null) {
            journalWriter.requireDataBarrier();
        }
    }

    /**
     * Stops the image after an I/O error while writing: the caches may now hold allocations
     * whose data or metadata never reached the disk, so nothing more is written (a journal, if
     * any, stays for the next open to replay).
     */
    public void failStop(Exception e) {
        if (!failed) {
            String m = e.getMessage();
            failure = (m == null ? e.getClass().getSimpleName() : m.replace(name + ": ", ""));
            failed = true;
        }
    }

    public boolean failed() {
        return failed;
    }

    /** Why the image stopped taking writes after an I/O error, or null while it is healthy. */
    public String failure() {
        return failed ? failure : null;
    }

    /**
     * Under the write lock: the current writer's own data writes left for later are done now,
     * and those of other writers (already outside the lock) are waited for, so whatever comes
     * next (metadata above all) is ordered after every guest write that came before.
     */
    public void awaitDataWrites() throws IOException {
        for (DeferredDataWrites.DeferredWrite w : dataWrites.takeQueued()) {
            w.run(file);
        }
        IOException failedWrite = dataWrites.awaitAll();
        if (failedWrite != null) {
            failStop(failedWrite);
            throw new IOException(name + ": a guest data write failed: " + failedWrite.getMessage(), failedWrite);
        }
    }
}
