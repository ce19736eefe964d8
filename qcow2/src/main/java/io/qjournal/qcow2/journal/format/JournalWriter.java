package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.storage.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The ring's write side: appends transactions at the head and keeps track of which blocks hold
 * transactions that are not synced yet (plus the last synced one, which the header's synced
 * index points at and the scanner starts from). Those blocks are never overwritten: when a
 * transaction does not fit in the rest, {@link JournalFullException} asks for a checkpoint.
 *
 * <p>Not thread-safe: the engine serializes calls. Nothing here flushes; see {@link Journal}.
 * After an I/O error the in-memory state may not match the ring: reopen and recover.
 */
final class JournalWriter {
    /** Descriptor block header bytes; descriptors start right after them. */
    static final int DESC_HEADER_BYTES = 24;
    static final int BLOCK_MAGIC = 0x716a626b; // "qjbk"

    /** A transaction in the ring, with the ranges needed to keep replay deterministic. */
    private record Entry(int seq, int index, int blocks, List<Extent> targets, List<Extent> copySources) {
    }

    private final JournalLayout layout;
    private final ChecksumKind kind;
    private final int n;
    private final ArrayDeque<Entry> live = new ArrayDeque<>();
    /** The live entries that have copy sources, in ring order (usually none: O(1) commits). */
    private final ArrayDeque<Entry> liveWithSources = new ArrayDeque<>();
    /** Blocks of the live entries: kept as a sum so a commit never walks the ring. */
    private long liveBlocks;
    private Entry anchor;
    private int head;
    private int nextSeq;

    /** A writer over an empty ring: the next transaction goes to block 1 with {@code nextSeq}. */
    JournalWriter(JournalLayout layout, ChecksumKind kind, int nextSeq) {
        this.layout = layout;
        this.kind = kind;
        this.n = layout.blockCount();
        this.head = 1;
        this.nextSeq = nextSeq;
    }

    /** Blocks not holding unsynced transactions or the synced anchor. */
    public long freeBlocks() {
        return n - liveBlocks - (anchor == null ? 0 : anchor.blocks);
    }

    /** The sequence number of the last appended transaction (or the synced one if none). */
    public int lastSeq() {
        return Seq.prev(nextSeq);
    }

    /** The sequence number the next appended transaction will get (padding may take it). */
    public int nextSeq() {
        return nextSeq;
    }

    /** Ring blocks the transaction needs (descriptor block + data blocks), or -1 if it can never fit. */
    public long blocksNeeded(TransactionBuilder tx) {
        long k = 1 + tx.dataBlocks(layout.blockOrder());
        boolean fits = tx.descriptorBytes() <= layout.blockSize() - DESC_HEADER_BYTES && k <= n
                && (k << layout.blockOrder()) <= Integer.MAX_VALUE - 8;
        return fits ? k : -1;
    }

    /**
     * Writes {@code tx} at the head (after a no-op padding transaction when it would cross the
     * ring's end) and returns its sequence number. Does not flush.
     *
     * @throws IllegalArgumentException when the transaction is empty or can never fit
     * @throws JournalFullException when a checkpoint is needed first
     * @throws CopySourceConflictException when it writes into an unsynced copy's source
     */
    public int append(TransactionBuilder tx) throws IOException {
        if (tx.isEmpty()) {
            throw new IllegalArgumentException("empty transaction");
        }
        long descBytes = tx.descriptorBytes();
        if (descBytes > layout.blockSize() - DESC_HEADER_BYTES) {
            throw new IllegalArgumentException("transaction needs " + descBytes
                    + " bytes of descriptors but a journal block holds " + (layout.blockSize() - DESC_HEADER_BYTES));
        }
        long k = 1 + tx.dataBlocks(layout.blockOrder());
        if (k > n || (k << layout.blockOrder()) > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("transaction needs " + k + " journal blocks but the journal has "
                    + n + ": split it or use a larger journal");
        }
        List<Extent> targets = new ArrayList<>();
        List<Extent> sources = new ArrayList<>();
        checkCopySources(tx, targets, sources);
        int pad = head + k - 1 > n ? n - head + 1 : 0;
        long free = freeBlocks();
        if (pad + k > free) {
            throw new JournalFullException(layout.where() + ": transaction needs " + (pad + k)
                    + " blocks (" + pad + " of them padding), " + free + " free: checkpoint first", pad + k, free);
        }
        if (pad > 0) {
            writePadding(head, pad, nextSeq);
            addLive(new Entry(nextSeq, head, pad, List.of(), List.of()));
            head = 1;
            nextSeq = Seq.next(nextSeq);
        }
        int seq = nextSeq;
        layout.storage().write(layout.blockOffset(head), ByteBuffer.wrap(encode(tx, head, seq, (int) k)));
        addLive(new Entry(seq, head, (int) k, targets, sources));
        head += (int) k;
        if (head > n) {
            head = 1;
        }
        nextSeq = Seq.next(nextSeq);
        return seq;
    }

    /**
     * Drops transactions up to and including {@code seq}, which are now synced, and returns the
     * header's new synced index: the descriptor block of {@code seq}, which stays protected as
     * the chain's anchor, or 0 when nothing else is live (the ring restarts at block 1).
     */
    int release(int seq) {
        if (live.stream().noneMatch(e -> e.seq == seq)) {
            throw new IllegalArgumentException("transaction " + Seq.str(seq) + " is not in the journal");
        }
        Entry e;
        do {
            e = live.removeFirst();
            liveBlocks -= e.blocks;
            if (liveWithSources.peekFirst() == e) {
                liveWithSources.removeFirst();
            }
        } while (e.seq != seq);
        if (live.isEmpty()) {
            anchor = null;
            head = 1;
            return 0;
        }
        anchor = e;
        return e.index;
    }

    /** True when {@code seq} was appended and is not synced yet. */
    boolean isLive(int seq) {
        return live.stream().anyMatch(e -> e.seq == seq);
    }

    private void addLive(Entry e) {
        live.add(e);
        liveBlocks += e.blocks;
        if (!e.copySources.isEmpty()) {
            liveWithSources.add(e);
        }
    }

    private void checkCopySources(TransactionBuilder tx, List<Extent> targets, List<Extent> sources)
            throws CopySourceConflictException {
        for (TransactionBuilder.Op op : tx.ops()) {
            if (op.type() == Descriptor.TYPE_WRITE || op.type() == Descriptor.TYPE_COPY) {
                targets.add(new Extent(op.target(), op.end() - op.target()));
            }
            if (op.type() == Descriptor.TYPE_COPY) {
                sources.add(new Extent(op.source(), op.length()));
            }
        }
        // Within the transaction, an op may not write a source of a copy at or before it.
        RangeSet earlierSources = new RangeSet();
        for (TransactionBuilder.Op op : tx.ops()) {
            if (op.type() == Descriptor.TYPE_COPY) {
                earlierSources.add(op.source(), op.source() + op.length());
            }
            if ((op.type() == Descriptor.TYPE_WRITE || op.type() == Descriptor.TYPE_COPY)
                    && earlierSources.overlaps(op.target(), op.end())) {
                throw conflict(op, "this transaction");
            }
        }
        for (Entry e : liveWithSources) {
            for (Extent src : e.copySources) {
                for (Extent t : targets) {
                    if (t.overlaps(src.offset(), src.length())) {
                        throw new CopySourceConflictException(layout.where() + ": transaction writes 0x"
                                + Long.toHexString(t.offset()) + "..0x" + Long.toHexString(t.end())
                                + ", the source of a copy in unsynced transaction " + Seq.str(e.seq) + ": checkpoint first");
                    }
                }
            }
        }
    }

    private CopySourceConflictException conflict(TransactionBuilder.Op op, String where) {
        return new CopySourceConflictException(layout.where() + ": transaction writes 0x"
                + Long.toHexString(op.target()) + "..0x" + Long.toHexString(op.end())
                + ", the source of a copy earlier in " + where);
    }

    /** Descriptor block followed by the data blocks, checksummed. */
    private byte[] encode(TransactionBuilder tx, int index, int seq, int blocks) {
        int bs = layout.blockSize();
        byte[] b = new byte[Math.multiplyExact(blocks, bs)];
        ByteBuffer desc = ByteBuffer.wrap(b, 0, bs);
        desc.position(DESC_HEADER_BYTES);
        List<TransactionBuilder.Op> ops = tx.ops();
        int dataBlock = index + 1;
        int i = 0;
        while (i < ops.size()) {
            int run = tx.runLength(i);
            Descriptor d;
            int type = ops.get(i).type();
            if (type == Descriptor.TYPE_WRITE) {
                List<Descriptor.WriteEntry> entries = new ArrayList<>(run);
                for (TransactionBuilder.Op op : ops.subList(i, i + run)) {
                    System.arraycopy(op.data(), 0, b, (dataBlock - index) * bs, op.data().length);
                    entries.add(new Descriptor.WriteEntry(op.length(), op.target(), dataBlock));
                    dataBlock += (int) layout.blocksFor(op.length());
                }
                d = new Descriptor.Write(entries);
            } else if (type == Descriptor.TYPE_COPY) {
                d = new Descriptor.Copy(ops.subList(i, i + run).stream()
                        .map(op -> new Descriptor.CopyEntry(op.length(), op.target(), op.source())).toList());
            } else if (type == Descriptor.TYPE_REVOKE) {
                d = new Descriptor.Revoke(ops.subList(i, i + run).stream()
                        .map(op -> new Descriptor.Range(op.target(), op.length())).toList());
            } else {
                d = new Descriptor.Dedup(type == Descriptor.TYPE_DEDUP_INSERT, ops.subList(i, i + run).stream()
                        .map(op -> new Descriptor.DedupEntry(op.hash(), op.target())).toList());
            }
            DescriptorCodec.encode(d, desc);
            i += run;
        }
        putBlockHeader(b, seq, desc.position() - DESC_HEADER_BYTES, blocks - 1);
        ChecksumKind.Accumulator acc = kind.start();
        acc.update(b, 0, 4);
        acc.update(b, 8, b.length - 8);
        ByteBuffer.wrap(b).putInt(4, acc.value());
        return b;
    }

    /** A no-op transaction filling blocks {@code index..n}: the wraparound happens after it. */
    private void writePadding(int index, int blocks, int seq) throws IOException {
        int bs = layout.blockSize();
        byte[] b = new byte[bs];
        ByteBuffer desc = ByteBuffer.wrap(b);
        desc.position(DESC_HEADER_BYTES);
        DescriptorCodec.encode(new Descriptor.NoOp(Descriptor.COMMON_BYTES), desc);
        putBlockHeader(b, seq, Descriptor.COMMON_BYTES, blocks - 1);
        ChecksumKind.Accumulator acc = kind.start();
        acc.update(b, 0, 4);
        acc.update(b, 8, bs - 8);
        acc.updateZeros((long) (blocks - 1) * bs);
        ByteBuffer.wrap(b).putInt(4, acc.value());
        layout.storage().write(layout.blockOffset(index), ByteBuffer.wrap(b));
        Journal.zero(layout.storage(), layout.blockOffset(index + 1), (long) (blocks - 1) * bs);
    }

    private static void putBlockHeader(byte[] b, int seq, int descBytes, int dataBlocks) {
        ByteBuffer h = ByteBuffer.wrap(b);
        h.putInt(0, BLOCK_MAGIC);
        h.putInt(8, seq);
        h.putInt(12, DESC_HEADER_BYTES);
        h.putInt(16, descBytes);
        h.putInt(20, dataBlocks);
    }
}
