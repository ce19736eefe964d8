package io.qjournal.qcow2.journal.format;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Byte layout of descriptors inside a descriptor block. Decoding trusts nothing: every size,
 * offset and index is checked and a violation is reported as {@link Invalid}, which ends the
 * chain at that transaction.
 */
final class DescriptorCodec {

    /** A descriptor block that is not a valid transaction; cheap, no stack trace. */
    static final class Invalid extends Exception {
        Invalid(String message) {
            super(message, null, false, false);
        }
    }

    private DescriptorCodec() {
    }

    static void encode(Descriptor d, ByteBuffer out) {
        int start = out.position();
        out.putShort((short) d.type());
        out.putShort((short) d.size());
        if (d instanceof Descriptor.NoOp n) {
            out.position(start + n.size());
        } else if (d instanceof Descriptor.Write w) {
            for (Descriptor.WriteEntry e : w.entries()) {
                out.putInt((int) e.length());
                out.putLong(e.target());
                out.putInt(e.dataBlockIndex());
            }
        } else if (d instanceof Descriptor.Copy c) {
            for (Descriptor.CopyEntry e : c.entries()) {
                out.putInt((int) e.length());
                out.putLong(e.target());
                out.putLong(e.source());
            }
        } else if (d instanceof Descriptor.Revoke r) {
            for (Descriptor.Range e : r.ranges()) {
                out.putInt((int) e.length());
                out.putLong(e.offset());
            }
        } else if (d instanceof Descriptor.Dedup x) {
            for (Descriptor.DedupEntry e : x.entries()) {
                out.put(e.hash());
                out.putLong(e.hostOffset());
            }
        }
    }

    /**
     * Decodes the descriptor area {@code area} (position..limit) of the transaction whose
     * descriptor block is ring block {@code index} followed by {@code dataBlocks} data blocks.
     */
    static List<Descriptor> decode(ByteBuffer area, long index, long dataBlocks, int blockOrder) throws Invalid {
        List<Descriptor> out = new ArrayList<>();
        while (area.hasRemaining()) {
            int at = area.position();
            if (area.remaining() < Descriptor.COMMON_BYTES) {
                throw new Invalid("descriptor at byte " + at + " is cut short");
            }
            int type = area.getShort() & 0xFFFF;
            int size = area.getShort() & 0xFFFF;
            if (size < Descriptor.COMMON_BYTES || size - Descriptor.COMMON_BYTES > area.remaining()) {
                throw new Invalid("descriptor at byte " + at + " has size " + size + " beyond the descriptor area");
            }
            int body = size - Descriptor.COMMON_BYTES;
            int entrySize = entrySize(type);
            if (entrySize < 0) {
                throw new Invalid("descriptor at byte " + at + " has unknown type " + type);
            }
            if (entrySize > 0 && body % entrySize != 0) {
                throw new Invalid(Descriptor.typeName(type) + " descriptor at byte " + at + " has size " + size
                        + ", not 4 + " + entrySize + " * n");
            }
            int n = entrySize == 0 ? 0 : body / entrySize;
            out.add(switch (type) {
                case Descriptor.TYPE_NOOP -> {
                    area.position(area.position() + body);
                    yield new Descriptor.NoOp(size);
                }
                case Descriptor.TYPE_WRITE -> decodeWrite(area, n, index, dataBlocks, blockOrder);
                case Descriptor.TYPE_COPY -> decodeCopy(area, n);
                case Descriptor.TYPE_REVOKE -> decodeRevoke(area, n);
                default -> decodeDedup(area, n, type == Descriptor.TYPE_DEDUP_INSERT);
            });
        }
        return out;
    }

    static int entrySize(int type) {
        return switch (type) {
            case Descriptor.TYPE_NOOP -> 0;
            case Descriptor.TYPE_WRITE -> Descriptor.WRITE_ENTRY_BYTES;
            case Descriptor.TYPE_COPY -> Descriptor.COPY_ENTRY_BYTES;
            case Descriptor.TYPE_REVOKE -> Descriptor.REVOKE_ENTRY_BYTES;
            case Descriptor.TYPE_DEDUP_INSERT, Descriptor.TYPE_DEDUP_DELETE -> Descriptor.DEDUP_ENTRY_BYTES;
            default -> -1;
        };
    }

    private static Descriptor decodeWrite(ByteBuffer a, int n, long index, long dataBlocks, int order)
            throws Invalid {
        List<Descriptor.WriteEntry> entries = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            long len = a.getInt() & 0xFFFF_FFFFL;
            long target = a.getLong();
            long block = a.getInt() & 0xFFFF_FFFFL;
            checkRange("write", target, len);
            long blocks = (len + (1L << order) - 1) >>> order;
            if (block < index + 1 || block + blocks > index + 1 + dataBlocks) {
                throw new Invalid("write of " + len + " bytes from journal block " + block
                        + " is outside the transaction's data blocks " + (index + 1) + ".." + (index + dataBlocks));
            }
            entries.add(new Descriptor.WriteEntry(len, target, (int) block));
        }
        return new Descriptor.Write(entries);
    }

    private static Descriptor decodeCopy(ByteBuffer a, int n) throws Invalid {
        List<Descriptor.CopyEntry> entries = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            long len = a.getInt() & 0xFFFF_FFFFL;
            long target = a.getLong();
            long source = a.getLong();
            checkRange("copy target", target, len);
            checkRange("copy source", source, len);
            if (source < target + len && target < source + len) {
                throw new Invalid("copy of " + len + " bytes from 0x" + Long.toHexString(source)
                        + " to 0x" + Long.toHexString(target) + " overlaps itself");
            }
            entries.add(new Descriptor.CopyEntry(len, target, source));
        }
        return new Descriptor.Copy(entries);
    }

    private static Descriptor decodeRevoke(ByteBuffer a, int n) throws Invalid {
        List<Descriptor.Range> ranges = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            long len = a.getInt() & 0xFFFF_FFFFL;
            long offset = a.getLong();
            checkRange("revoke", offset, len);
            ranges.add(new Descriptor.Range(offset, len));
        }
        return new Descriptor.Revoke(ranges);
    }

    private static Descriptor decodeDedup(ByteBuffer a, int n, boolean insert) throws Invalid {
        List<Descriptor.DedupEntry> entries = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            byte[] hash = new byte[Descriptor.HASH_BYTES];
            a.get(hash);
            long host = a.getLong();
            if (host < 0) {
                throw new Invalid("dedup entry with host offset beyond 2^63");
            }
            entries.add(new Descriptor.DedupEntry(hash, host));
        }
        return new Descriptor.Dedup(insert, entries);
    }

    private static void checkRange(String what, long offset, long len) throws Invalid {
        if (len == 0) {
            throw new Invalid(what + " of length 0");
        }
        if (offset < 0 || offset > Long.MAX_VALUE - len) {
            throw new Invalid(what + " range at offset 0x" + Long.toHexString(offset) + " is beyond 2^63");
        }
    }
}
