package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.Qcow2Exception;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Walks the chain of transactions from the header's synced index. Every block read from the
 * ring is untrusted: a transaction is accepted only if magic, sequence succession, bounds,
 * descriptor layout and checksum all hold; the first one that does not ends the chain. The walk
 * is bounded by the ring's block count, and no buffer larger than {@link #CHUNK} bytes (or one
 * block) is allocated from on-disk lengths.
 */
final class JournalScanner {
    static final int CHUNK = 1 << 20;

    private final JournalLayout layout;
    private final JournalHeader header;
    private final ChecksumKind kind;
    private final int n;
    private final byte[] block;
    private String lastReason;

    public JournalScanner(JournalLayout layout, JournalHeader header) {
        this.layout = layout;
        this.header = header;
        this.kind = header.checksumKind();
        this.n = layout.blockCount();
        this.block = new byte[layout.blockSize()];
    }

    /**
     * @throws IOException if the synced index does not hold the synced transaction (the
     *                     header is then inconsistent with the ring) or on read errors
     */
    public ScanResult scan() throws IOException {
        Transaction anchor = null;
        int pos = 1;
        long used = 0;
        if (header.syncedIndex() != 0) {
            anchor = read(header.syncedIndex(), header.syncedSeq(), n);
            if (anchor == null) {
                throw new Qcow2Exception(layout.storage().name(), layout.where() + ": synced index "
                        + header.syncedIndex() + " does not hold synced transaction " + Seq.str(header.syncedSeq())
                        + ": " + lastReason);
            }
            pos = after(anchor);
            used = anchor.blocks();
        }
        List<Transaction> txs = new ArrayList<>();
        int expect = Seq.next(header.syncedSeq());
        String reason = "ring exhausted";
        // Each accepted transaction takes at least one block, so this ends within n rounds.
        while (used < n) {
            Transaction t = read(pos, expect, n - used);
            if (t == null) {
                reason = lastReason;
                break;
            }
            txs.add(t);
            used += t.blocks();
            pos = after(t);
            expect = Seq.next(expect);
        }
        int committed = header.durableCommit() ? txs.size()
                : (int) Math.min(txs.size(), Seq.distance(header.syncedSeq(), header.committedSeq()));
        return new ScanResult(header, anchor, txs, committed, pos, expect, reason);
    }

    private int after(Transaction t) {
        int next = t.index() + t.blocks();
        return next > n ? 1 : next;
    }

    /**
     * The transaction at ring block {@code index} if it is valid, has sequence {@code seq} and
     * fits in {@code maxBlocks} without crossing the ring's end; else null with lastReason set.
     */
    private Transaction read(int index, int seq, long maxBlocks) throws IOException {
        try {
            return decode(index, seq, maxBlocks);
        } catch (DescriptorCodec.Invalid e) {
            lastReason = "block " + index + ": " + e.getMessage();
            return null;
        }
    }

    private Transaction decode(int index, int seq, long maxBlocks) throws IOException, DescriptorCodec.Invalid {
        int bs = layout.blockSize();
        layout.storage().read(layout.blockOffset(index), ByteBuffer.wrap(block));
        ByteBuffer b = ByteBuffer.wrap(block);
        if (b.getInt(0) != JournalWriter.BLOCK_MAGIC) {
            throw new DescriptorCodec.Invalid("no descriptor block magic");
        }
        int found = b.getInt(8);
        if (found != seq) {
            throw new DescriptorCodec.Invalid("sequence " + Seq.str(found) + " where " + Seq.str(seq) + " was expected");
        }
        long descOffset = b.getInt(12) & 0xFFFF_FFFFL;
        long descBytes = b.getInt(16) & 0xFFFF_FFFFL;
        long dataBlocks = b.getInt(20) & 0xFFFF_FFFFL;
        if (descOffset < JournalWriter.DESC_HEADER_BYTES || descOffset > bs || descBytes > bs - descOffset) {
            throw new DescriptorCodec.Invalid("descriptors at " + descOffset + " (+" + descBytes
                    + " bytes) are not inside the block");
        }
        if (dataBlocks + 1 > maxBlocks || index + dataBlocks > n) {
            throw new DescriptorCodec.Invalid(dataBlocks + " data blocks run past the ring's end or the chain's start");
        }
        int stored = b.getInt(4);
        int actual = checksum(index, (int) dataBlocks);
        if (stored != actual) {
            throw new DescriptorCodec.Invalid("checksum mismatch (stored 0x" + Integer.toHexString(stored)
                    + ", computed 0x" + Integer.toHexString(actual) + ")");
        }
        ByteBuffer area = ByteBuffer.wrap(block, (int) descOffset, (int) descBytes).slice();
        List<Descriptor> descriptors = DescriptorCodec.decode(area, index, dataBlocks, layout.blockOrder());
        return new Transaction(seq, index, (int) dataBlocks, (int) descOffset, (int) descBytes, descriptors);
    }

    /** Checksum of the descriptor block in {@link #block} and its data blocks, read in chunks. */
    private int checksum(int index, int dataBlocks) throws IOException {
        ChecksumKind.Accumulator acc = kind.start();
        acc.update(block, 0, 4);
        acc.update(block, 8, block.length - 8);
        long remaining = (long) dataBlocks << layout.blockOrder();
        long pos = layout.blockOffset(index + 1L);
        byte[] chunk = remaining == 0 ? null : new byte[(int) Math.min(remaining, Math.max(CHUNK, block.length))];
        while (remaining > 0) {
            int k = (int) Math.min(remaining, chunk.length);
            layout.storage().read(pos, ByteBuffer.wrap(chunk, 0, k));
            acc.update(chunk, 0, k);
            pos += k;
            remaining -= k;
        }
        return acc.value();
    }
}
