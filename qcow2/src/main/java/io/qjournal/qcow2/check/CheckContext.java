package io.qjournal.qcow2.check;

import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * State shared by the parts of one check pass: the image geometry, the counters qemu-img
 * reports (QEMU's BdrvCheckResult) and the messages it prints.
 */
final class CheckContext {
    /** Messages kept; a damaged image can produce one per cluster. */
    static final int MAX_MESSAGES = 10_000;

    final Storage storage;
    final String file;
    final Header header;
    final RepairMode mode;
    final int clusterBits;
    final int clusterSize;
    final int refcountOrder;
    final boolean extendedL2;
    final boolean dataFile;
    /** Entries per L2 table. */
    final int l2Entries;

    final Counters res = new Counters();
    /** Guards repair writes into tables; set by the refcount check before anything is written. */
    OverlapGuard guard;

    /** Ends a check early (QEMU returns -errno; qemu-img then says "Check failed: <reason>"). */
    static final class Abort extends Exception {
        Abort(String message) {
            super(message, null, false, false);
        }
    }
    /** The file's size, cached: asking the store costs a system call and it is needed per reference. */
    private long fileSize = -1;
    private final List<String> messages;
    private long suppressed;

    /** Counters of QEMU's BdrvCheckResult (and its BlockFragInfo). */
    static final class Counters {
        long checkErrors;
        long corruptions;
        long leaks;
        long corruptionsFixed;
        long leaksFixed;
        long allocated;
        long fragmented;
        long compressed;

        Counters copy() {
            Counters c = new Counters();
            c.set(this);
            return c;
        }

        void set(Counters o) {
            checkErrors = o.checkErrors;
            corruptions = o.corruptions;
            leaks = o.leaks;
            corruptionsFixed = o.corruptionsFixed;
            leaksFixed = o.leaksFixed;
            allocated = o.allocated;
            fragmented = o.fragmented;
            compressed = o.compressed;
        }
    }

    CheckContext(Storage storage, Header header, RepairMode mode, List<String> messages) {
        this.storage = storage;
        this.file = storage.name();
        this.header = header;
        this.mode = mode;
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.refcountOrder = header.refcountOrder();
        this.extendedL2 = header.extendedL2();
        this.dataFile = header.has(Feature.EXTERNAL_DATA_FILE);
        this.l2Entries = clusterSize / (extendedL2 ? 16 : 8);
        this.messages = messages;
    }

    void msg(String m) {
        if (messages.size() < MAX_MESSAGES) {
            messages.add(m);
        } else {
            suppressed++;
        }
    }

    void msg(String fmt, Object... args) {
        msg(String.format(fmt, args));
    }

    void finishMessages() {
        if (suppressed > 0) {
            messages.add("(" + suppressed + " further messages suppressed)");
            suppressed = 0;
        }
    }

    /** The file size as of the last {@link #refreshFileSize()} (which the first call does). */
    long fileSize() throws IOException {
        if (fileSize < 0) {
            fileSize = storage.size();
        }
        return fileSize;
    }

    /** Call after anything that may have changed the file's size. */
    void refreshFileSize() throws IOException {
        fileSize = storage.size();
    }

    long offsetIntoCluster(long offset) {
        return offset & (clusterSize - 1);
    }

    long sizeToClusters(long bytes) {
        return (bytes + clusterSize - 1) >>> clusterBits;
    }

    String prefix(boolean repairing) {
        return repairing ? "Repairing" : "ERROR";
    }

    /**
     * QEMU's qcow2_inc_refcounts_imrt: counts one more reference to every cluster the byte
     * range touches. A range reaching a cluster or more past the end of the file is a
     * corruption and counts nothing, which also keeps the array bounded by the file size.
     */
    void inc(RefcountArray imrt, long offset, long size) throws IOException {
        if (size <= 0) {
            return;
        }
        long fileLen = fileSize();
        if (offset < 0 || offset > Long.MAX_VALUE - size || offset + size - fileLen >= clusterSize) {
            msg("ERROR: counting reference for region exceeding the end of the file by one cluster or more: "
                    + "offset 0x%x size 0x%x", offset, size);
            res.corruptions++;
            return;
        }
        long start = offset & ~(long) (clusterSize - 1);
        long last = (offset + size - 1) & ~(long) (clusterSize - 1);
        for (long c = start; c <= last; c += clusterSize) {
            incCluster(imrt, c);
        }
    }

    /**
     * {@link #inc} of one whole, aligned cluster that starts inside the file (the checker's
     * per-data-cluster case, without the range arithmetic).
     */
    void incCluster(RefcountArray imrt, long clusterOffset) {
        if (!imrt.increment(clusterOffset >>> clusterBits)) {
            msg("ERROR: overflow cluster offset=0x%x", clusterOffset);
            msg("Use qemu-img amend to increase the refcount entry width or qemu-img convert to create a "
                    + "clean copy if the image cannot be opened for writing");
            res.corruptions++;
        }
    }

    static List<String> newMessageList() {
        return new ArrayList<>();
    }
}
