package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.storage.Extent;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** A set of disjoint half-open byte ranges [start, end), merged on insertion. */
final class RangeSet {
    private final TreeMap<Long, Long> ranges = new TreeMap<>();

    void add(long start, long end) {
        if (start >= end) {
            return;
        }
        Map.Entry<Long, Long> lower = ranges.floorEntry(start);
        if (lower != null && lower.getValue() >= start) {
            start = lower.getKey();
            end = Math.max(end, lower.getValue());
        }
        Map.Entry<Long, Long> e = ranges.ceilingEntry(start);
        while (e != null && e.getKey() <= end) {
            end = Math.max(end, e.getValue());
            ranges.remove(e.getKey());
            e = ranges.ceilingEntry(start);
        }
        ranges.put(start, end);
    }

    boolean overlaps(long start, long end) {
        Map.Entry<Long, Long> lower = ranges.floorEntry(start);
        if (lower != null && lower.getValue() > start) {
            return true;
        }
        Long next = ranges.higherKey(start);
        return next != null && next < end;
    }

    /** The parts of [start, end) not covered by this set, in ascending order. */
    List<Extent> subtractFrom(long start, long end) {
        List<Extent> out = new ArrayList<>();
        long cur = start;
        Map.Entry<Long, Long> lower = ranges.floorEntry(start);
        if (lower != null && lower.getValue() > cur) {
            cur = lower.getValue();
        }
        for (Map.Entry<Long, Long> e : ranges.tailMap(start, false).entrySet()) {
            if (e.getKey() >= end || cur >= end) {
                break;
            }
            if (e.getKey() > cur) {
                out.add(new Extent(cur, e.getKey() - cur));
            }
            cur = Math.max(cur, e.getValue());
        }
        if (cur < end) {
            out.add(new Extent(cur, end - cur));
        }
        return out;
    }

    boolean isEmpty() {
        return ranges.isEmpty();
    }
}
