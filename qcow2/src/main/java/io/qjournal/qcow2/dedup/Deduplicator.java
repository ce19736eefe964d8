package io.qjournal.qcow2.dedup;

import io.qjournal.qcow2.Maintenance;
import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.table.L2Entry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;

/**
 * The sharing pass: fingerprints every allocated, uncompressed data cluster of the active tables
 * that only the active view references (refcount 1), in host order so the file is read in
 * large sequential runs; points duplicates at the first cluster with the same bytes (as internal
 * snapshots share clusters: refcount + 1, COPIED cleared) and turns all-zero clusters into zero
 * or unallocated clusters. Every change joins the open journal transaction.
 */
final class Deduplicator {
    /**
     * One read through the page cache: small enough to stay in the core's cache between the
     * kernel's copy and the fingerprint, and at least one cluster.
     */
    private static final int CHUNK_BYTES = 256 << 10;
    /** Read ahead of the in-order decisions at most: bounds the fingerprints held. */
    private static final long WINDOW_BYTES = 64L << 20;
    /** Buffers the direct reader fills ahead of the fingerprinting threads (see {@link HashPipeline}). */
    private static final int BUFFERS = 6;

    private final Maintenance m;
    /** The kept clusters' SHA-256 for the dedup index (only the decider thread uses it). */
    private final MessageDigest sha = sha256();
    private final Stats stats;
    private final DedupCompactor.Progress progress;
    private final boolean dryRun;
    private final int cb;
    private final int cs;
    private final boolean extended;
    /** All-zero clusters can become zero/unallocated clusters (v3, or v2 without a backing file). */
    private final boolean canZero;
    private final boolean backing;
    /** Largest refcount the image's refcount width holds (unsigned). */
    private final long maxRefcount;
    private long[] hosts = new long[1024];
    private long[] guests = new long[1024];
    private int n;
    /** The scan's reads bypassing the page cache, or null (see {@link DirectReader}). */
    private DirectReader direct;
    private long[] zeroAllocGuests = new long[16];
    private long[] zeroAllocHosts = new long[16];
    private int zn;
    /** Guest offsets of refcount-1 data clusters whose entry lacks COPIED. */
    private final List<Long> uncopied = new ArrayList<>();

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
        int order = m.refcounts().order();
        this.maxRefcount = order == 6 ? -1L : (1L << (1 << order)) - 1;
    }

    void run(long virtualSize) throws IOException {
        collect(virtualSize);
        sortByHost();
        for (int i = 0; i < zn; i++) {
            zero(zeroAllocGuests[i], zeroAllocHosts[i]);
        }
        restoreCopied();
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
            if (rc != 1) {
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
            if (!L2Entry.isCopied(e)) {
                uncopied.add(guest);
            }
            hosts[n] = host;
            guests[n++] = guest;
        });
    }

    /**
     * Refcount 1 without COPIED is what QEMU's copy-on-write leaves on the other entry of a
     * cluster two entries shared (it cannot know that entry): qemu-img check counts it as a
     * corruption. The entry is the cluster's only reference ({@link #sortByHost} proved no other
     * active entry points there, and a snapshot reference would make the refcount 2), so the
     * flag goes back on, as check -r all would do.
     */
    private void restoreCopied() throws IOException {
        if (uncopied.isEmpty()) {
            return;
        }
        stats.skipped.add(uncopied.size() + " COPIED flags restored on clusters only one entry references"
                + " (left by QEMU's copy-on-write of a shared cluster)" + (dryRun ? " (would be)" : ""));
        if (dryRun) {
            return;
        }
        for (long guest : uncopied) {
            long e = ActiveL2.entry(m.map(), guest);
            ActiveL2.set(m.map(), guest, e | L2Entry.COPIED, ActiveL2.bitmap(m.map(), guest));
            commitIfFull();
        }
    }

    /**
     * Host offsets of refcount-1 clusters are unique, so a map from host to guest reorders. A
     * host seen twice means a refcount that undercounts: nothing may be changed then.
     */
    private void sortByHost() throws IOException {
        LongLongMap guestOf = new LongLongMap(n + zn);
        for (int i = 0; i < n + zn; i++) {
            long host = i < n ? hosts[i] : zeroAllocHosts[i - n];
            if (guestOf.get(host) != LongLongMap.ABSENT) {
                throw new Qcow2Exception(m.storage().name(), String.format("cluster at 0x%x has refcount 1 but"
                        + " two active L2 entries point at it; repair the image with check -r all first", host));
            }
            guestOf.put(host, i < n ? guests[i] : zeroAllocGuests[i - n]);
        }
        hosts = Arrays.copyOf(hosts, n);
        Arrays.sort(hosts);
        guests = new long[n];
        for (int i = 0; i < n; i++) {
            guests[i] = guestOf.get(hosts[i]);
        }
    }

    private void scan() throws IOException {
        direct = DirectReader.open(m.storage(), cs);
        int chunkBytes = Math.max(cs, direct != null ? DirectReader.CHUNK_BYTES : CHUNK_BYTES);
        List<int[]> chunks = runs(chunkBytes);
        // Fingerprints cost little CPU: two threads keep up with any device here.
        int threads = Math.max(1, Math.min(2, Runtime.getRuntime().availableProcessors()));
        int window = (int) Math.max(2, WINDOW_BYTES / chunkBytes);
        try (HashPipeline hashes = new HashPipeline(m.storage(), direct, hosts, chunks, cb, chunkBytes, threads,
                BUFFERS, window, canZero)) {
            ByteBuffer mine = aligned(cs);
            ByteBuffer other = aligned(cs);
            LongLongMap firstByPrint = new LongLongMap(Math.min(n, 1 << 20));
            BitSet inserted = new BitSet();
            long reported = 0;
            for (int c = 0; c < chunks.size(); c++) {
                int first = chunks.get(c)[0];
                int end = chunks.get(c)[1];
                HashPipeline.Chunk chunk = hashes.take(c);
                for (int k = first; k < end; k++) {
                    stats.clustersScanned++;
                    if (chunk.zero()[k - first]) {
                        zero(guests[k], hosts[k]);
                        continue;
                    }
                    stats.bytesFingerprinted += cs;
                    long key = chunk.fingerprints()[k - first];
                    if (key == LongLongMap.ABSENT) {
                        key = 0;
                    }
                    long firstSeen = firstByPrint.get(key);
                    if (firstSeen == LongLongMap.ABSENT) {
                        firstByPrint.put(key, k);
                        continue;
                    }
                    // Equal fingerprints are not proof: only equal bytes are shared.
                    int f = (int) firstSeen;
                    if (!sameBytes(hosts[k], hosts[f], mine, other)) {
                        stats.fingerprintCollisions++;
                        continue;
                    }
                    if (share(k, f, other, !inserted.get(f))) {
                        inserted.set(f);
                    } else {
                        // f counts all its refcount width holds: later duplicates share with k.
                        firstByPrint.put(key, k);
                    }
                }
                stats.bytesScanned += (long) (end - first) << cb;
                if (stats.bytesScanned - reported >= WINDOW_BYTES || c == chunks.size() - 1) {
                    reported = stats.bytesScanned;
                    progress.advanced(stats.bytesScanned, stats.bytesWon);
                }
            }
        } finally {
            if (direct != null) {
                direct.close();
            }
        }
    }

    private boolean sameBytes(long a, long b, ByteBuffer bufA, ByteBuffer bufB) throws IOException {
        bufA.clear().limit(cs);
        m.storage().read(a, bufA);
        bufB.clear().limit(cs);
        m.storage().read(b, bufB);
        return bufA.flip().mismatch(bufB.flip()) == -1;
    }

    /** Runs of candidates contiguous in the file, each at most {@code maxBytes}: {first, end}. */
    private List<int[]> runs(int maxBytes) {
        int perRun = Math.max(1, maxBytes / cs);
        List<int[]> out = new ArrayList<>();
        int i = 0;
        while (i < n) {
            int j = i + 1;
            while (j < n && j - i < perRun && hosts[j] == hosts[j - 1] + cs) {
                j++;
            }
            out.add(new int[] {i, j});
            i = j;
        }
        return out;
    }

    /** A direct buffer of {@code n} bytes at a page boundary: the kernel copies into those much faster. */
    static ByteBuffer aligned(int n) {
        int pages = (n + 4095) & ~4095;
        return ByteBuffer.allocateDirect(pages + 4096).alignedSlice(4096).limit(n).slice();
    }

    /**
     * Points the duplicate (candidate d) at the kept cluster (candidate k); false when the
     * kept cluster's refcount is at the most its width can count.
     */
    private boolean share(int d, int k, ByteBuffer kept, boolean firstShare) throws IOException {
        long kc = hosts[k] >>> cb;
        long rc = m.refcounts().get(kc) + (dryRun ? stats.refDelta(kc) : 0);
        if (Long.compareUnsigned(rc, maxRefcount) >= 0) {
            stats.refcountFull++;
            return false;
        }
        stats.duplicateClusters++;
        stats.bytesWon += cs;
        if (dryRun) {
            stats.remap.put(guests[d], hosts[k]);
            stats.addRef(hosts[k] >>> cb, 1);
            stats.addRef(hosts[d] >>> cb, -1);
            return true;
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
            // hash stays true for as long as the cluster is shared. Only here is SHA-256 needed:
            // once per kept cluster, not for every cluster scanned.
            sha.update(kept.duplicate().position(0).limit(cs));
            m.dedupEntry(true, sha.digest(), hosts[k]);
        }
        commitIfFull();
        return true;
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
