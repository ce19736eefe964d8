package io.qjournal.qcow2.dedup;

import io.qjournal.qcow2.Maintenance;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.BitSet;

/**
 * The sharing pass: hashes every allocated, uncompressed data cluster of the active tables that
 * only the active view references (refcount 1, COPIED), in host order so the file is read in
 * large sequential runs; points duplicates at the first cluster with the same bytes (as internal
 * snapshots share clusters: refcount + 1, COPIED cleared) and turns all-zero clusters into zero
 * or unallocated clusters. Every change joins the open journal transaction.
 */
final class Deduplicator {
    /** One read: large enough to run at sequential speed, small enough to keep memory low. */
    private static final int RUN_BYTES = 8 << 20;

    private final Maintenance m;
    private final Stats stats;
    private final DedupCompactor.Progress progress;
    private final boolean dryRun;
    private final int cb;
    private final int cs;
    private final boolean extended;
    /** All-zero clusters can become zero/unallocated clusters (v3, or v2 without a backing file). */
    private final boolean canZero;
    private final boolean backing;
    private long[] hosts = new long[1024];
    private long[] guests = new long[1024];
    private int n;
    private long[] zeroAllocGuests = new long[16];
    private long[] zeroAllocHosts = new long[16];
    private int zn;

    Deduplicator(Maintenance m, Stats stats, DedupCompactor.Progress progress, boolean dryRun, int version,
            boolean backing) {
        this.m = m;
        this.stats = stats;
        this.progress = progress;
        this.dryRun = dryRun;
        this.cb = m.clusterBits();
        this.cs = 1 << cb;
        this.extended = m.map().extended();
        this.backing = backing;
        this.canZero = version >= 3 || !backing;
    }

    void run(long virtualSize) throws IOException {
        collect(virtualSize);
        for (int i = 0; i < zn; i++) {
            zero(zeroAllocGuests[i], zeroAllocHosts[i]);
        }
        sortByHost();
        scan();
        if (!dryRun) {
            m.commit(false);
        }
    }

    private void collect(long virtualSize) throws IOException {
        ActiveL2.walk(m.map(), cb, virtualSize, (guest, e, bitmap) -> {
            if (L2Entry.isCompressed(e)) {
                stats.compressed++;
                return;
            }
            long host = L2Entry.hostOffset(e);
            if (host == 0) {
                return;
            }
            boolean zeroFlag = !extended && (e & L2Entry.ZERO) != 0;
            if (extended && L2Entry.allocBits(bitmap) != -1) {
                // Some subclusters read from the backing file or as zeros: not a whole data cluster.
                stats.partial++;
                return;
            }
            long rc = m.refcounts().get(host >>> cb);
            if (rc > 1) {
                stats.shared++;
                return;
            }
            if (rc != 1 || !L2Entry.isCopied(e)) {
                stats.inconsistent++;
                return;
            }
            if (zeroFlag) {
                if (zn == zeroAllocHosts.length) {
                    zeroAllocHosts = Arrays.copyOf(zeroAllocHosts, zn * 2);
                    zeroAllocGuests = Arrays.copyOf(zeroAllocGuests, zn * 2);
                }
                zeroAllocHosts[zn] = host;
                zeroAllocGuests[zn++] = guest;
                return;
            }
            if (n == hosts.length) {
                hosts = Arrays.copyOf(hosts, n * 2);
                guests = Arrays.copyOf(guests, n * 2);
            }
            hosts[n] = host;
            guests[n++] = guest;
        });
    }

    /** Host offsets of refcount-1 clusters are unique, so a map from host to guest reorders. */
    private void sortByHost() {
        LongLongMap guestOf = new LongLongMap(n);
        for (int i = 0; i < n; i++) {
            guestOf.put(hosts[i], guests[i]);
        }
        hosts = Arrays.copyOf(hosts, n);
        Arrays.sort(hosts);
        guests = new long[n];
        for (int i = 0; i < n; i++) {
            guests[i] = guestOf.get(hosts[i]);
        }
    }

    private void scan() throws IOException {
        MessageDigest sha = sha256();
        ByteBuffer run = ByteBuffer.allocateDirect(Math.max(RUN_BYTES, cs) + 4096).alignedSlice(4096);
        ByteBuffer zeros = ByteBuffer.allocateDirect(cs);
        ByteBuffer other = ByteBuffer.allocateDirect(cs + 4096).alignedSlice(4096);
        int perRun = Math.max(1, run.capacity() / cs);
        LongLongMap firstByHash = new LongLongMap(Math.min(n, 1 << 20));
        BitSet inserted = new BitSet();
        int i = 0;
        while (i < n) {
            int j = i + 1;
            while (j < n && j - i < perRun && hosts[j] == hosts[j - 1] + cs) {
                j++;
            }
            int len = (j - i) << cb;
            run.clear().limit(len);
            m.storage().read(hosts[i], run);
            for (int k = i; k < j; k++) {
                ByteBuffer c = run.duplicate().position((k - i) << cb).limit((k - i + 1) << cb);
                stats.clustersScanned++;
                if (canZero && c.mismatch(zeros.duplicate()) == -1) {
                    zero(guests[k], hosts[k]);
                    continue;
                }
                sha.update(c.duplicate());
                stats.bytesHashed += cs;
                byte[] hash = sha.digest();
                long key = ByteBuffer.wrap(hash).getLong();
                if (key == LongLongMap.ABSENT) {
                    key = 0;
                }
                long first = firstByHash.get(key);
                if (first == LongLongMap.ABSENT) {
                    firstByHash.put(key, k);
                    continue;
                }
                // Equal prefixes are not proof: only equal bytes are shared.
                int f = (int) first;
                other.clear().limit(cs);
                m.storage().read(hosts[f], other);
                other.flip();
                if (other.mismatch(c.duplicate()) != -1) {
                    continue;
                }
                share(k, f, hash, !inserted.get(f));
                inserted.set(f);
            }
            stats.bytesScanned += len;
            progress.advanced(stats.bytesScanned, stats.bytesWon);
            i = j;
        }
    }

    /** Points the duplicate (candidate d) at the kept cluster (candidate k). */
    private void share(int d, int k, byte[] hash, boolean firstShare) throws IOException {
        stats.duplicateClusters++;
        stats.bytesWon += cs;
        if (dryRun) {
            stats.remap.put(guests[d], hosts[k]);
            stats.addRef(hosts[k] >>> cb, 1);
            stats.addRef(hosts[d] >>> cb, -1);
            return;
        }
        long ek = ActiveL2.entry(m.map(), guests[k]);
        long ed = ActiveL2.entry(m.map(), guests[d]);
        if (L2Entry.hostOffset(ek) != hosts[k] || L2Entry.hostOffset(ed) != hosts[d]) {
            throw new IllegalStateException("L2 entries changed under the dedup pass");
        }
        if (L2Entry.isCopied(ek)) {
            ActiveL2.set(m.map(), guests[k], ek & ~L2Entry.COPIED, ActiveL2.bitmap(m.map(), guests[k]));
        }
        ActiveL2.set(m.map(), guests[d], hosts[k], ActiveL2.bitmap(m.map(), guests[d]));
        m.refcounts().update(hosts[k], 1, 1);
        m.release(hosts[d], 1);
        if (firstShare) {
            // Shared clusters are never written in place (any write copies them first), so the
            // hash stays true for as long as the cluster is shared.
            m.dedupEntry(true, hash, hosts[k]);
        }
        commitIfFull();
    }

    /** Makes a guest cluster read as zeros without a host cluster, and frees the host cluster. */
    private void zero(long guest, long host) throws IOException {
        stats.zeroClusters++;
        stats.bytesWon += cs;
        if (dryRun) {
            stats.remap.put(guest, 0L);
            stats.addRef(host >>> cb, -1);
            return;
        }
        long entry;
        long bitmap;
        if (extended) {
            entry = 0;
            bitmap = backing ? L2Entry.bitmap(0, -1) : 0;
        } else {
            // Unallocated would show the backing file through; the zero flag reads as zeros.
            entry = backing ? L2Entry.ZERO : 0;
            bitmap = 0;
        }
        ActiveL2.set(m.map(), guest, entry, bitmap);
        m.release(host, 1);
        commitIfFull();
    }

    private void commitIfFull() throws IOException {
        if (m.transactionFull()) {
            m.commit(false);
        }
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
