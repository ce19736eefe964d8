package io.qjournal.qcow2.journal.format;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Collects the operations of one transaction, in the order replay must apply them. Arguments are
 * checked here so that an encoded transaction always decodes. Not thread-safe.
 */
public final class TransactionBuilder {

    /** One operation; {@code data} only for writes, {@code hash} only for dedup. */
    record Op(int type, long target, long length, long source, byte[] data, byte[] hash) {
        long end() {
            return target + length;
        }
    }

    private static final long MAX_LENGTH = 0xFFFF_FFFFL;
    private final List<Op> ops = new ArrayList<>();

    /** Journals {@code data} to be written at image offset {@code target}; the array is copied. */
    public TransactionBuilder addWrite(long target, byte[] data) {
        return addWrite(target, data, 0, data.length);
    }

    public TransactionBuilder addWrite(long target, byte[] data, int off, int len) {
        checkRange("write", target, len);
        byte[] copy = new byte[len];
        System.arraycopy(data, off, copy, 0, len);
        ops.add(new Op(Descriptor.TYPE_WRITE, target, len, 0, copy, null));
        return this;
    }

    /**
     * Journals a copy inside the image. Replay reads the source from the image, so the source
     * must not change (by any write, journalled or not) until this transaction is synced.
     */
    public TransactionBuilder addCopy(long target, long source, long length) {
        checkRange("copy target", target, length);
        checkRange("copy source", source, length);
        if (source < target + length && target < source + length) {
            throw new IllegalArgumentException("copy source and target overlap");
        }
        ops.add(new Op(Descriptor.TYPE_COPY, target, length, source, null, null));
        return this;
    }

    /** Cancels the write/copy ops of earlier transactions on this range (not this one's). */
    public TransactionBuilder addRevoke(long offset, long length) {
        checkRange("revoke", offset, length);
        ops.add(new Op(Descriptor.TYPE_REVOKE, offset, length, 0, null, null));
        return this;
    }

    public TransactionBuilder addDedupInsert(byte[] sha256, long hostOffset) {
        return addDedup(Descriptor.TYPE_DEDUP_INSERT, sha256, hostOffset);
    }

    public TransactionBuilder addDedupDelete(byte[] sha256, long hostOffset) {
        return addDedup(Descriptor.TYPE_DEDUP_DELETE, sha256, hostOffset);
    }

    private TransactionBuilder addDedup(int type, byte[] hash, long hostOffset) {
        if (hash.length != Descriptor.HASH_BYTES || hostOffset < 0) {
            throw new IllegalArgumentException("dedup entry needs a 32-byte hash and a host offset >= 0");
        }
        ops.add(new Op(type, hostOffset, 0, 0, null, hash.clone()));
        return this;
    }

    public boolean isEmpty() {
        return ops.isEmpty();
    }

    List<Op> ops() {
        return Collections.unmodifiableList(ops);
    }

    /** Data blocks the writes need: each write's data starts at a fresh block. */
    long dataBlocks(int blockOrder) {
        long n = 0;
        for (Op op : ops) {
            if (op.type() == Descriptor.TYPE_WRITE) {
                n += (op.length() + (1L << blockOrder) - 1) >>> blockOrder;
            }
        }
        return n;
    }

    /** Bytes of descriptors: runs of same-type ops share one descriptor of up to 64 KiB. */
    long descriptorBytes() {
        long total = 0;
        int i = 0;
        while (i < ops.size()) {
            int run = runLength(i);
            int entry = DescriptorCodec.entrySize(ops.get(i).type());
            total += Descriptor.COMMON_BYTES + (long) run * entry;
            i += run;
        }
        return total;
    }

    /** Ops from {@code i} that go into one descriptor: same type, within the u16 size. */
    int runLength(int i) {
        int type = ops.get(i).type();
        int max = (Descriptor.MAX_SIZE - Descriptor.COMMON_BYTES) / DescriptorCodec.entrySize(type);
        int j = i;
        while (j < ops.size() && j - i < max && ops.get(j).type() == type) {
            j++;
        }
        return j - i;
    }

    private static void checkRange(String what, long offset, long length) {
        if (length <= 0 || length > MAX_LENGTH) {
            throw new IllegalArgumentException(what + " length " + length + " is not in 1..2^32-1");
        }
        if (offset < 0 || offset > Long.MAX_VALUE - length) {
            throw new IllegalArgumentException(what + " offset " + offset + " is out of range");
        }
    }
}
