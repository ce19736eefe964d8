package io.qjournal.qcow2.header;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The feature name table extension: 48-byte entries of type (0 incompatible, 1 compatible,
 * 2 autoclear), bit number, and a 46-byte NUL-padded name.
 */
public final class FeatureNameTable {
    public static final int ENTRY_SIZE = 48;
    private static final int TYPE_OFFSET = 0;
    private static final int BIT_OFFSET = 1;
    private static final int NAME_OFFSET = 2;
    private static final int NAME_LENGTH = 46;

    public record Entry(int type, int bit, String name) {
    }

    private FeatureNameTable() {
    }

    public static List<Entry> decode(byte[] data) {
        List<Entry> entries = new ArrayList<>();
        for (int off = 0; off + ENTRY_SIZE <= data.length; off += ENTRY_SIZE) {
            int type = data[off + TYPE_OFFSET] & 0xff;
            int bit = data[off + BIT_OFFSET] & 0xff;
            int len = 0;
            while (len < NAME_LENGTH && data[off + NAME_OFFSET + len] != 0) {
                len++;
            }
            entries.add(new Entry(type, bit, new String(data, off + NAME_OFFSET, len, StandardCharsets.UTF_8)));
        }
        return entries;
    }

    public static byte[] encode(List<Entry> entries) {
        ByteBuffer buf = ByteBuffer.allocate(entries.size() * ENTRY_SIZE);
        for (Entry e : entries) {
            int base = buf.position();
            buf.put((byte) e.type()).put((byte) e.bit());
            byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
            buf.put(name, 0, Math.min(name.length, NAME_LENGTH));
            buf.position(base + ENTRY_SIZE);
        }
        return buf.array();
    }

    /** Our entries, in QEMU's order, followed by entries from {@code existing} we do not know. */
    public static List<Entry> merged(List<Entry> existing, boolean withJournal) {
        Map<Long, Entry> out = new LinkedHashMap<>();
        for (Feature f : Feature.values()) {
            boolean journal = f == Feature.JOURNAL_DIRTY || f == Feature.JOURNAL_VALID;
            if (!journal || withJournal) {
                Entry e = new Entry(f.kind().ordinal(), f.bit(), f.featureName());
                out.put(key(e), e);
            }
        }
        for (Entry e : existing) {
            // A journal's entries leave with the journal, so the table reads as qemu-img's again.
            if (withJournal || !isJournalEntry(e)) {
                out.putIfAbsent(key(e), e);
            }
        }
        return new ArrayList<>(out.values());
    }

    /** The name an image gives to a feature bit, or null. */
    public static String nameOf(List<Entry> entries, Feature.Kind kind, int bit) {
        for (Entry e : entries) {
            if (e.type() == kind.ordinal() && e.bit() == bit) {
                return e.name();
            }
        }
        return null;
    }

    private static boolean isJournalEntry(Entry e) {
        for (Feature f : new Feature[] {Feature.JOURNAL_DIRTY, Feature.JOURNAL_VALID}) {
            if (e.type() == f.kind().ordinal() && e.bit() == f.bit()) {
                return true;
            }
        }
        return false;
    }

    private static long key(Entry e) {
        return ((long) e.type() << 8) | e.bit();
    }
}
