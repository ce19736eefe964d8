package io.qjournal.qcow2.snapshot;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.storage.Storage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Codec for the snapshot table: a run of variable-length entries, each starting 8-byte
 * aligned (layout in docs/format/qcow2.md). Limits are QEMU's, so a table QEMU rejects is
 * rejected here too, with a one-line {@link Qcow2Exception}.
 */
public final class SnapshotTable {
    /** Fixed part of an entry. */
    public static final int ENTRY_HEADER_SIZE = 40;
    /** Extra data QEMU writes: vm_state_size_large, disk_size, icount. */
    public static final int KNOWN_EXTRA_DATA_SIZE = 24;
    /** v3 images need at least vm_state_size_large and disk_size in every entry. */
    public static final int V3_MIN_EXTRA_DATA_SIZE = 16;
    /** QEMU's QCOW_MAX_SNAPSHOT_EXTRA_DATA, QCOW_MAX_SNAPSHOTS and QCOW_MAX_SNAPSHOTS_SIZE. */
    public static final int MAX_EXTRA_DATA = 1024;
    public static final int MAX_SNAPSHOTS = 65536;
    public static final long MAX_TABLE_SIZE = 64L << 20;
    /** QEMU's QCOW_MAX_L1_SIZE in entries. */
    public static final int MAX_L1_ENTRIES = (32 << 20) / 8;

    /**
     * The table as read: its entries and its length in bytes (the snapshots_size QEMU keeps).
     * In repair mode, {@code extraDataDropped} entries lost extra data beyond the limit and
     * {@code snapshotsDiscarded} entries past the size limit were left out.
     */
    public record Parsed(List<SnapshotEntry> entries, long sizeBytes, int extraDataDropped, int snapshotsDiscarded) {
        public Parsed {
            entries = List.copyOf(entries);
        }

        public Parsed(List<SnapshotEntry> entries, long sizeBytes) {
            this(entries, sizeBytes, 0, 0);
        }
    }

    private SnapshotTable() {
    }

    /**
     * Reads and validates the table: structure as QEMU's qcow2_read_snapshots, plus each
     * snapshot's L1 table (aligned, at most QEMU's maximum, inside the file) and the table
     * itself inside the file.
     */
    public static List<SnapshotEntry> read(Storage s, Header h) throws IOException {
        Parsed p = readUnvalidatedL1(s, h);
        long fileSize = s.size();
        String file = s.name();
        if (h.nbSnapshots() > 0 && h.snapshotsOffset() + p.sizeBytes() > fileSize) {
            throw new Qcow2Exception(file, "snapshot table at 0x" + Long.toHexString(h.snapshotsOffset())
                    + " (" + p.sizeBytes() + " bytes) lies beyond the end of the file");
        }
        for (SnapshotEntry e : p.entries()) {
            String what = "snapshot " + e.id() + " (" + e.name() + ")";
            if (Integer.toUnsignedLong(e.l1Size()) > MAX_L1_ENTRIES) {
                throw new Qcow2Exception(file, what + " has an L1 table that is too large (l1_size "
                        + Integer.toUnsignedString(e.l1Size()) + ")");
            }
            if ((e.l1TableOffset() & (h.clusterSize() - 1)) != 0 || e.l1TableOffset() < 0) {
                throw new Qcow2Exception(file, what + " L1 table offset 0x" + Long.toHexString(e.l1TableOffset())
                        + " is not aligned to a cluster");
            }
            if (e.l1Size() > 0 && (e.l1TableOffset() == 0 || e.l1TableOffset() > fileSize
                    || (long) e.l1Size() * 8 > fileSize - e.l1TableOffset())) {
                throw new Qcow2Exception(file, what + " L1 table at 0x" + Long.toHexString(e.l1TableOffset())
                        + " (" + e.l1Size() + " entries) lies outside the file");
            }
        }
        return p.entries();
    }

    /**
     * Reads the table with only the checks QEMU's reader makes (entry count, extra data size,
     * total size, table offset aligned): what the checker needs, since it reports bad
     * snapshot L1 tables as corruptions instead of refusing the image.
     */
    public static Parsed readUnvalidatedL1(Storage s, Header h) throws IOException {
        return readUnvalidatedL1(s, h, false);
    }

    /**
     * As {@link #readUnvalidatedL1(Storage, Header)}; with {@code repair}, what QEMU's
     * {@code check -r all} salvages is kept instead of refused: extra data beyond 1024 bytes
     * is cut off and snapshots past the 64 MiB table limit are left out (both counted).
     */
    public static Parsed readUnvalidatedL1(Storage s, Header h, boolean repair) throws IOException {
        String file = s.name();
        int nb = h.nbSnapshots();
        if (nb == 0) {
            return new Parsed(List.of(), 0);
        }
        if (nb < 0 || nb > MAX_SNAPSHOTS) {
            throw new Qcow2Exception(file, "snapshot table too large (" + Integer.toUnsignedString(nb) + " snapshots)");
        }
        long start = h.snapshotsOffset();
        if (start <= 0 || (start & (h.clusterSize() - 1)) != 0 || start > Long.MAX_VALUE - MAX_TABLE_SIZE - 8) {
            throw new Qcow2Exception(file, "snapshot table offset 0x" + Long.toHexString(start) + " is invalid");
        }
        List<SnapshotEntry> out = new ArrayList<>(Math.min(nb, 1024));
        long offset = start;
        long tableLength = 0;
        int dropped = 0;
        int discarded = 0;
        byte[] hdr = new byte[ENTRY_HEADER_SIZE];
        for (int i = 0; i < nb; i++) {
            long entryStart = offset;
            tableLength = (tableLength + 7) & ~7L;
            offset = (offset + 7) & ~7L;
            s.read(offset, hdr, 0, hdr.length);
            offset += ENTRY_HEADER_SIZE;
            ByteBuffer b = ByteBuffer.wrap(hdr);
            long l1Offset = b.getLong(0);
            int l1Size = b.getInt(8);
            int idSize = b.getShort(12) & 0xffff;
            int nameSize = b.getShort(14) & 0xffff;
            long dateSec = Integer.toUnsignedLong(b.getInt(16));
            long dateNsec = Integer.toUnsignedLong(b.getInt(20));
            long vmClock = b.getLong(24);
            long vmState = Integer.toUnsignedLong(b.getInt(32));
            long extraSize = Integer.toUnsignedLong(b.getInt(36));
            long storedExtraSize = extraSize;
            if (extraSize > MAX_EXTRA_DATA) {
                if (!repair) {
                    throw new Qcow2Exception(file, "too much extra metadata in snapshot table entry " + i + " ("
                            + extraSize + " bytes, at most " + MAX_EXTRA_DATA + ")");
                }
                dropped++;
                extraSize = MAX_EXTRA_DATA;
            }
            byte[] extra = new byte[(int) extraSize];
            s.read(offset, extra, 0, extra.length);
            offset += storedExtraSize;
            ByteBuffer x = ByteBuffer.wrap(extra);
            if (extraSize >= 8) {
                vmState = x.getLong(0);
            }
            long diskSize = extraSize >= 16 ? x.getLong(8) : -1;
            long icount = extraSize >= 24 ? x.getLong(16) : -1;
            byte[] id = new byte[idSize];
            s.read(offset, id, 0, idSize);
            offset += idSize;
            byte[] name = new byte[nameSize];
            s.read(offset, name, 0, nameSize);
            offset += nameSize;
            tableLength += ENTRY_HEADER_SIZE + extraSize + idSize + nameSize;
            if (tableLength > MAX_TABLE_SIZE) {
                if (!repair) {
                    throw new Qcow2Exception(file, "snapshot table is too big (more than " + MAX_TABLE_SIZE
                            + " bytes at entry " + i + ")");
                }
                discarded = nb - i;
                offset = entryStart;
                break;
            }
            out.add(new SnapshotEntry(l1Offset, l1Size, cString(id), cString(name), dateSec, dateNsec, vmClock,
                    vmState, diskSize, icount, extra));
        }
        return new Parsed(out, offset - start, dropped, discarded);
    }

    /** QEMU keeps id and name as C strings: anything after a NUL byte is not part of them. */
    private static String cString(byte[] b) {
        int n = 0;
        while (n < b.length && b[n] != 0) {
            n++;
        }
        return new String(b, 0, n, StandardCharsets.UTF_8);
    }

    /** Bytes {@link #encode} produces for these entries. */
    public static long encodedSize(List<SnapshotEntry> entries) {
        long offset = 0;
        for (SnapshotEntry e : entries) {
            offset = (offset + 7) & ~7L;
            offset += ENTRY_HEADER_SIZE + Math.max(KNOWN_EXTRA_DATA_SIZE, e.extraDataSize())
                    + e.id().getBytes(StandardCharsets.UTF_8).length + e.name().getBytes(StandardCharsets.UTF_8).length;
        }
        return offset;
    }

    /**
     * Encodes a table as QEMU's qcow2_write_snapshots does: the known extra data (64-bit VM
     * state size, disk size, icount) from the entry's fields, followed by any extra data
     * beyond those 24 bytes kept from the original entry; a VM state too large for the 32-bit
     * field is stored there as 0.
     */
    public static byte[] encode(List<SnapshotEntry> entries) {
        if (entries.size() > MAX_SNAPSHOTS) {
            throw new IllegalArgumentException("too many snapshots: " + entries.size());
        }
        long size = encodedSize(entries);
        if (size > MAX_TABLE_SIZE) {
            throw new IllegalArgumentException("snapshot table of " + size + " bytes exceeds " + MAX_TABLE_SIZE);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream((int) size);
        for (SnapshotEntry e : entries) {
            while ((out.size() & 7) != 0) {
                out.write(0);
            }
            byte[] id = e.id().getBytes(StandardCharsets.UTF_8);
            byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
            if (id.length > 0xffff || name.length > 0xffff) {
                throw new IllegalArgumentException("snapshot id or name longer than 65535 bytes");
            }
            byte[] extra = e.extraData();
            if (extra.length > MAX_EXTRA_DATA) {
                throw new IllegalArgumentException("snapshot extra data longer than " + MAX_EXTRA_DATA + " bytes");
            }
            int extraSize = Math.max(KNOWN_EXTRA_DATA_SIZE, extra.length);
            ByteBuffer b = ByteBuffer.allocate(ENTRY_HEADER_SIZE + extraSize);
            b.putLong(e.l1TableOffset());
            b.putInt(e.l1Size());
            b.putShort((short) id.length);
            b.putShort((short) name.length);
            b.putInt((int) e.dateSec());
            b.putInt((int) e.dateNsec());
            b.putLong(e.vmClockNsec());
            b.putInt(Long.compareUnsigned(e.vmStateSize(), 0xffff_ffffL) <= 0 ? (int) e.vmStateSize() : 0);
            b.putInt(extraSize);
            b.putLong(e.vmStateSize());
            b.putLong(e.diskSize());
            b.putLong(e.icount());
            if (extra.length > KNOWN_EXTRA_DATA_SIZE) {
                b.put(extra, KNOWN_EXTRA_DATA_SIZE, extra.length - KNOWN_EXTRA_DATA_SIZE);
            }
            out.writeBytes(b.array());
            out.writeBytes(id);
            out.writeBytes(name);
        }
        return out.toByteArray();
    }
}
