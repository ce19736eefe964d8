package io.qjournal.qcow2.journal;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * Guest data that travels inside journal transactions instead of being written in place
 * (docs/format/journal.md, "Guest data in the journal"): small writes into fresh clusters, and
 * later writes over bytes that are still only in the journal. Such bytes reach their home
 * location at the next checkpoint; until then every read of the range must see them, in the
 * order they were written.
 *
 * <p>Not thread-safe: changes happen under the image's write lock, lookups under its read lock.
 */
final class JournalledData {
    /** One write: {@code data} belongs at host offset {@code offset}; later {@code seq} wins. */
    record Entry(long offset, byte[] data, long seq) {
        long end() {
            return offset + data.length;
        }
    }

    private final TreeMap<Long, List<Entry>> byStart = new TreeMap<>();
    /** Not yet in a transaction. */
    private final List<Entry> pending = new ArrayList<>();
    /** In committed transactions, not yet written home. */
    private final List<Entry> committed = new ArrayList<>();
    private long nextSeq;
    private int maxLength;
    private long pendingBytes;

    void add(long offset, byte[] data) {
        if (data.length == 0) {
            return;
        }
        Entry e = new Entry(offset, data, nextSeq++);
        pending.add(e);
        pendingBytes += data.length;
        index(e);
    }

    boolean isEmpty() {
        return byStart.isEmpty();
    }

    List<Entry> pending() {
        return pending;
    }

    long pendingBytes() {
        return pendingBytes;
    }

    List<Entry> committed() {
        return committed;
    }

    /** The pending entries are now part of a durable transaction. */
    void pendingCommitted() {
        committed.addAll(pending);
        pending.clear();
        pendingBytes = 0;
    }

    /** Entries are home (checkpoint, or written directly): reads go to the file again. */
    void clear(List<Entry> entries) {
        for (Entry e : entries) {
            unindex(e);
        }
        entries.clear();
        if (entries == pending) {
            pendingBytes = 0;
        }
    }

    boolean overlaps(long offset, long length) {
        if (byStart.isEmpty()) {
            return false;
        }
        for (List<Entry> l : candidates(offset, length).values()) {
            for (Entry e : l) {
                if (e.end() > offset) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Copies the journalled bytes of [offset, offset+len) over {@code buf}, oldest first. */
    void overlay(long offset, byte[] buf, int off, int len) {
        if (byStart.isEmpty()) {
            return;
        }
        List<Entry> hits = new ArrayList<>();
        for (List<Entry> l : candidates(offset, len).values()) {
            for (Entry e : l) {
                if (e.end() > offset) {
                    hits.add(e);
                }
            }
        }
        hits.sort(Comparator.comparingLong(Entry::seq));
        for (Entry e : hits) {
            long from = Math.max(offset, e.offset());
            long to = Math.min(offset + len, e.end());
            System.arraycopy(e.data(), (int) (from - e.offset()), buf, off + (int) (from - offset), (int) (to - from));
        }
    }

    /**
     * Forgets the bytes inside a freed range (pieces outside it stay). Returns true when a
     * committed entry was cut: a replay would otherwise write it over the range's next owner,
     * so the caller must revoke the range.
     */
    boolean drop(long offset, long length) {
        if (!overlaps(offset, length)) {
            return false;
        }
        cut(pending, offset, length, true);
        return cut(committed, offset, length, false);
    }

    private boolean cut(List<Entry> list, long offset, long length, boolean isPending) {
        boolean any = false;
        List<Entry> out = new ArrayList<>(list.size());
        for (Entry e : list) {
            if (e.offset() >= offset + length || e.end() <= offset) {
                out.add(e);
                continue;
            }
            any = true;
            unindex(e);
            if (isPending) {
                pendingBytes -= e.data().length;
            }
            if (e.offset() < offset) {
                out.add(piece(e, e.offset(), offset, isPending));
            }
            if (e.end() > offset + length) {
                out.add(piece(e, offset + length, e.end(), isPending));
            }
        }
        list.clear();
        list.addAll(out);
        return any;
    }

    private Entry piece(Entry e, long from, long to, boolean isPending) {
        byte[] d = java.util.Arrays.copyOfRange(e.data(), (int) (from - e.offset()), (int) (to - e.offset()));
        Entry p = new Entry(from, d, e.seq());
        index(p);
        if (isPending) {
            pendingBytes += d.length;
        }
        return p;
    }

    private NavigableMap<Long, List<Entry>> candidates(long offset, long length) {
        return byStart.subMap(offset - maxLength + 1, true, offset + length, false);
    }

    private void index(Entry e) {
        byStart.computeIfAbsent(e.offset(), k -> new ArrayList<>(1)).add(e);
        maxLength = Math.max(maxLength, e.data().length);
    }

    private void unindex(Entry e) {
        List<Entry> l = byStart.get(e.offset());
        if (l != null) {
            l.remove(e);
            if (l.isEmpty()) {
                byStart.remove(e.offset());
            }
        }
        if (byStart.isEmpty()) {
            maxLength = 0;
        }
    }

    /** For tests: entries in the index. */
    int size() {
        int n = 0;
        for (Map.Entry<Long, List<Entry>> m : byStart.entrySet()) {
            n += m.getValue().size();
        }
        return n;
    }
}
