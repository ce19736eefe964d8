package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.storage.Extent;
import io.qjournal.qcow2.storage.Storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Applies the committed transactions of a scan to the image, in chain order.
 *
 * <p>Rules (see docs/format/journal.md, "Replay"):
 * <ul>
 * <li>A revoke in transaction T cancels the parts of write/copy ops (and dedup insertions) of
 *     transactions before T that fall in its ranges; ops of T itself and later are unaffected.
 * <li>A copy reads its source from the image at its turn in the sequence. Replay is idempotent
 *     only if no op at or after a copy writes into that copy's source, so such a journal is
 *     refused before anything is written (the writer never produces one).
 * <li>Every target range is checked by the {@link TargetValidator} (and must not overlap the
 *     journal itself) before the first write: a refused replay leaves the image untouched.
 * </ul>
 * Nothing is flushed here; {@link Journal#recover} flushes and then updates the header.
 */
final class JournalReplayer {

    /** Outcome of a replay. */
    public record Result(int transactions, int lastSeq, int steps, long bytesWritten) {
    }

    /** One revoke-trimmed operation; {@code from} is a journal byte offset (write) or image source (copy). */
    private record Step(int seq, int type, long target, long length, long from, byte[] hash) {
        boolean writes() {
            return type == Descriptor.TYPE_WRITE || type == Descriptor.TYPE_COPY;
        }
    }

    private JournalReplayer() {
    }

    public static Result replay(JournalLayout layout, ScanResult scan, Storage target,
                                TargetValidator validator, DedupIndex dedup) throws IOException {
        String file = layout.storage().name();
        if (scan.committedMissing()) {
            throw new Qcow2Exception(file, layout.where() + ": committed transaction " + Seq.str(scan.endSeq())
                    + " is missing or corrupt (" + scan.endReason() + "): the image needs repair");
        }
        List<Transaction> txs = scan.committed();
        List<Step> steps = plan(layout, txs);
        checkCopySources(layout, steps);
        for (Step s : steps) {
            if (!s.writes()) {
                continue;
            }
            if (target == layout.storage() && layout.overlaps(s.target, s.length)) {
                throw new Qcow2Exception(file, layout.where() + ": transaction " + Seq.str(s.seq)
                        + " would write into the journal itself at 0x" + Long.toHexString(s.target));
            }
            validator.check(s.target, s.length);
            if (s.type == Descriptor.TYPE_COPY) {
                validator.checkSource(s.from, s.length);
            }
        }
        long written = 0;
        byte[] buf = null;
        for (Step s : steps) {
            if (s.type == Descriptor.TYPE_DEDUP_INSERT) {
                dedup.insert(s.hash.clone(), s.target);
                continue;
            }
            if (s.type == Descriptor.TYPE_DEDUP_DELETE) {
                dedup.delete(s.hash.clone(), s.target);
                continue;
            }
            Storage source = s.type == Descriptor.TYPE_WRITE ? layout.storage() : target;
            if (buf == null) {
                buf = new byte[JournalScanner.CHUNK];
            }
            for (long done = 0; done < s.length; ) {
                int k = (int) Math.min(buf.length, s.length - done);
                source.read(s.from + done, ByteBuffer.wrap(buf, 0, k));
                target.write(s.target + done, ByteBuffer.wrap(buf, 0, k));
                done += k;
            }
            written += s.length;
        }
        return new Result(txs.size(), txs.isEmpty() ? scan.header().syncedSeq() : txs.get(txs.size() - 1).seq(),
                steps.size(), written);
    }

    /** Ops in chain order with revoked parts cut out (walks backwards collecting revokes). */
    private static List<Step> plan(JournalLayout layout, List<Transaction> txs) {
        RangeSet revoked = new RangeSet();
        List<List<Step>> perTx = new ArrayList<>();
        for (int i = txs.size() - 1; i >= 0; i--) {
            Transaction t = txs.get(i);
            List<Step> steps = new ArrayList<>();
            List<Descriptor.Range> revokes = new ArrayList<>();
            for (Descriptor d : t.descriptors()) {
                if (d instanceof Descriptor.Write w) {
                    for (Descriptor.WriteEntry e : w.entries()) {
                        long data = layout.blockOffset(e.dataBlockIndex());
                        for (Extent p : revoked.subtractFrom(e.target(), e.target() + e.length())) {
                            steps.add(new Step(t.seq(), Descriptor.TYPE_WRITE, p.offset(), p.length(),
                                    data + (p.offset() - e.target()), null));
                        }
                    }
                } else if (d instanceof Descriptor.Copy c) {
                    for (Descriptor.CopyEntry e : c.entries()) {
                        for (Extent p : revoked.subtractFrom(e.target(), e.target() + e.length())) {
                            steps.add(new Step(t.seq(), Descriptor.TYPE_COPY, p.offset(), p.length(),
                                    e.source() + (p.offset() - e.target()), null));
                        }
                    }
                } else if (d instanceof Descriptor.Revoke r) {
                    revokes.addAll(r.ranges());
                } else if (d instanceof Descriptor.Dedup x) {
                    for (Descriptor.DedupEntry e : x.entries()) {
                        if (!x.insert() || !revoked.overlaps(e.hostOffset(), e.hostOffset() + 1)) {
                            steps.add(new Step(t.seq(), d.type(), e.hostOffset(), 0, 0, e.hash()));
                        }
                    }
                }
            }
            // Added after this transaction's own ops: a revoke only cancels earlier transactions.
            for (Descriptor.Range r : revokes) {
                revoked.add(r.offset(), r.end());
            }
            perTx.add(steps);
        }
        Collections.reverse(perTx);
        List<Step> all = new ArrayList<>();
        perTx.forEach(all::addAll);
        return all;
    }

    /** Refuses a plan in which an op at or after a copy writes into that copy's source. */
    private static void checkCopySources(JournalLayout layout, List<Step> steps) throws IOException {
        RangeSet laterTargets = new RangeSet();
        for (int i = steps.size() - 1; i >= 0; i--) {
            Step s = steps.get(i);
            if (s.writes()) {
                laterTargets.add(s.target, s.target + s.length);
            }
            if (s.type == Descriptor.TYPE_COPY && laterTargets.overlaps(s.from, s.from + s.length)) {
                throw new Qcow2Exception(layout.storage().name(), layout.where() + ": the source 0x"
                        + Long.toHexString(s.from) + " (+" + s.length + ") of a copy in transaction " + Seq.str(s.seq)
                        + " is overwritten later in the journal, so replay would not be repeatable");
            }
        }
    }
}
