package io.qjournal.qcow2.check;

import io.qjournal.qcow2.refcount.RefcountBlock;
import java.util.Arrays;

/**
 * The in-memory refcount table the checker builds (QEMU's "IMRT"): one entry of the image's
 * refcount width per host cluster, stored as a list of refcount-block-sized pages so that a
 * rebuild can write a page to disk as a refcount block unchanged. Pages are allocated on first
 * write; an absent page reads as zeros.
 */
final class RefcountArray {
    /** QEMU refuses to check images of more than INT_MAX clusters; so do we (bounds memory too). */
    static final long MAX_CLUSTERS = Integer.MAX_VALUE;

    private final int order;
    private final int clusterSize;
    private final int blockBits;
    private byte[][] pages;
    private long size;
    private long highestSet = -1;

    RefcountArray(int order, int clusterBits, long size) {
        this.order = order;
        this.clusterSize = 1 << clusterBits;
        this.blockBits = clusterBits + 3 - order;
        this.pages = new byte[0][];
        resize(size);
    }

    long size() {
        return size;
    }

    int entriesPerBlock() {
        return 1 << blockBits;
    }

    int blockBits() {
        return blockBits;
    }

    long max() {
        return RefcountBlock.maxValue(order);
    }

    /** Grows (never shrinks) to hold {@code newSize} entries. */
    void resize(long newSize) {
        if (newSize > MAX_CLUSTERS) {
            throw new IllegalArgumentException("refcount array of " + newSize + " clusters is too large");
        }
        if (newSize <= size) {
            return;
        }
        int nPages = (int) ((newSize + entriesPerBlock() - 1) >>> blockBits);
        if (nPages > pages.length) {
            pages = Arrays.copyOf(pages, Math.max(nPages, Math.min(pages.length * 2, (int) ((MAX_CLUSTERS >>> blockBits) + 1))));
        }
        size = newSize;
    }

    long get(long cluster) {
        if (cluster < 0 || cluster >= size) {
            return 0;
        }
        byte[] page = pages[(int) (cluster >>> blockBits)];
        return page == null ? 0 : RefcountBlock.get(page, order, (int) (cluster & (entriesPerBlock() - 1)));
    }

    /** An upper bound of the highest cluster ever given a non-zero refcount (-1 for none). */
    long highestSet() {
        return highestSet;
    }

    /** The page holding {@code cluster}'s entry (live, not a copy), or null while it is all zeros. */
    byte[] page(long cluster) {
        int p = (int) (cluster >>> blockBits);
        return cluster < 0 || p >= pages.length ? null : pages[p];
    }

    void set(long cluster, long value) {
        if (cluster >= size) {
            resize(cluster + 1);
        }
        if (value != 0 && cluster > highestSet) {
            highestSet = cluster;
        }
        int p = (int) (cluster >>> blockBits);
        byte[] page = pages[p];
        if (page == null) {
            if (value == 0) {
                return;
            }
            page = new byte[clusterSize];
            pages[p] = page;
        }
        RefcountBlock.set(page, order, (int) (cluster & (entriesPerBlock() - 1)), value);
    }

    /**
     * Adds one reference to {@code cluster}: false, changing nothing, when its refcount is at
     * the width's maximum already. One page lookup instead of a get and a set: the checker
     * calls this once per allocated cluster.
     */
    boolean increment(long cluster) {
        if (cluster >= size) {
            resize(cluster + 1);
        }
        int p = (int) (cluster >>> blockBits);
        byte[] page = pages[p];
        if (page == null) {
            page = new byte[clusterSize];
            pages[p] = page;
        }
        int index = (int) cluster & ((1 << blockBits) - 1);
        if (order == 4) {
            int v = ((page[2 * index] & 0xff) << 8) | (page[2 * index + 1] & 0xff);
            if (v == 0xffff) {
                return false;
            }
            v++;
            page[2 * index] = (byte) (v >>> 8);
            page[2 * index + 1] = (byte) v;
        } else {
            long v = RefcountBlock.get(page, order, index);
            if (v == max()) {
                return false;
            }
            RefcountBlock.set(page, order, index, v + 1);
        }
        if (cluster > highestSet) {
            highestSet = cluster;
        }
        return true;
    }

    /** The refcount block image for block index {@code index} (a copy; zeros if absent). */
    byte[] block(long index) {
        if (index < pages.length && pages[(int) index] != null) {
            return pages[(int) index].clone();
        }
        return new byte[clusterSize];
    }

    void clear() {
        Arrays.fill(pages, null);
    }
}
