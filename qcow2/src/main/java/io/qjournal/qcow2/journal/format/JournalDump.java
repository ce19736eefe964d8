package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.storage.Storage;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** Human-readable listing of a journal, for {@code qjournal journal dump FILE}. Reads only. */
public final class JournalDump {
    private JournalDump() {
    }

    public static List<String> describe(Storage storage, long offset, long size) throws IOException {
        return describe(Journal.open(storage, offset, size));
    }

    public static List<String> describe(Journal journal) throws IOException {
        JournalHeader h = journal.header();
        JournalLayout l = journal.layout();
        List<String> out = new ArrayList<>();
        out.add(String.format("journal: offset 0x%x, size %d bytes, block size %d (order %d), %d ring blocks",
                l.offset(), h.journalSize(), h.blockSize(), h.blockOrder(), h.blockCount()));
        out.add("flags: 0x" + Integer.toHexString(h.flags()) + " (checksum " + h.checksumKind()
                + (h.durableCommit() ? ", durable commit" : "") + ")");
        out.add("synced index " + Integer.toUnsignedString(h.syncedIndex()) + ", synced seq " + Seq.str(h.syncedSeq())
                + ", committed seq " + Seq.str(h.committedSeq()));
        ScanResult scan = journal.scan();
        if (scan.anchor() != null) {
            describe(out, scan.anchor(), "synced");
        }
        for (int i = 0; i < scan.transactions().size(); i++) {
            describe(out, scan.transactions().get(i), i < scan.committedCount() ? "committed" : "uncommitted");
        }
        out.add("chain ends at block " + scan.endIndex() + " (expected seq " + Seq.str(scan.endSeq()) + "): "
                + scan.endReason());
        if (scan.committedMissing()) {
            out.add("ERROR: committed transactions up to seq " + Seq.str(h.committedSeq()) + " are missing");
        }
        return out;
    }

    private static void describe(List<String> out, Transaction t, String state) {
        out.add("transaction seq " + Seq.str(t.seq()) + " at block " + t.index() + ", " + t.dataBlocks()
                + " data blocks, " + state + (t.isNoOp() ? ", no-op" : ""));
        for (Descriptor d : t.descriptors()) {
            if (d instanceof Descriptor.NoOp n) {
                out.add("  no-op (" + n.size() + " bytes)");
            } else if (d instanceof Descriptor.Write w) {
                for (Descriptor.WriteEntry e : w.entries()) {
                    out.add(String.format("  write %d bytes to 0x%x from block %d", e.length(), e.target(),
                            e.dataBlockIndex()));
                }
            } else if (d instanceof Descriptor.Copy c) {
                for (Descriptor.CopyEntry e : c.entries()) {
                    out.add(String.format("  copy %d bytes from 0x%x to 0x%x", e.length(), e.source(), e.target()));
                }
            } else if (d instanceof Descriptor.Revoke r) {
                for (Descriptor.Range e : r.ranges()) {
                    out.add(String.format("  revoke %d bytes at 0x%x", e.length(), e.offset()));
                }
            } else if (d instanceof Descriptor.Dedup x) {
                for (Descriptor.DedupEntry e : x.entries()) {
                    out.add("  " + Descriptor.typeName(x.type()) + " " + e);
                }
            }
        }
    }
}
