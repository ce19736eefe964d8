package io.qjournal.qcow2.journal.format;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * One decoded descriptor of a transaction: the common part (type u16, size u16) followed by
 * type-specific entries. The write/copy/revoke/dedup descriptors repeat their entry, so the size
 * is 4 + n * entry size. Ranges are byte offsets in the image file.
 */
public sealed interface Descriptor {
    int TYPE_NOOP = 0;
    int TYPE_WRITE = 1;
    int TYPE_COPY = 2;
    int TYPE_REVOKE = 3;
    int TYPE_DEDUP_INSERT = 4;
    int TYPE_DEDUP_DELETE = 5;

    int COMMON_BYTES = 4;
    int WRITE_ENTRY_BYTES = 16;
    int COPY_ENTRY_BYTES = 20;
    int REVOKE_ENTRY_BYTES = 12;
    int DEDUP_ENTRY_BYTES = 40;
    int HASH_BYTES = 32;
    int MAX_SIZE = 0xFFFF;

    int type();

    /** Encoded size in bytes, including the 4-byte common part. */
    int size();

    static String typeName(int type) {
        return switch (type) {
            case TYPE_NOOP -> "no-op";
            case TYPE_WRITE -> "write";
            case TYPE_COPY -> "copy";
            case TYPE_REVOKE -> "revoke";
            case TYPE_DEDUP_INSERT -> "dedup-insert";
            case TYPE_DEDUP_DELETE -> "dedup-delete";
            default -> "type " + type;
        };
    }

    /** Nothing to do; its bytes after the common part are ignored. Pads wraparounds. */
    record NoOp(int size) implements Descriptor {
        public int type() {
            return TYPE_NOOP;
        }
    }

    /** {@code length} bytes from journal block {@code dataBlockIndex} onwards go to {@code target}. */
    record WriteEntry(long length, long target, int dataBlockIndex) {
    }

    record Write(List<WriteEntry> entries) implements Descriptor {
        public Write {
            entries = List.copyOf(entries);
        }

        public int type() {
            return TYPE_WRITE;
        }

        public int size() {
            return COMMON_BYTES + WRITE_ENTRY_BYTES * entries.size();
        }
    }

    /** {@code length} bytes at {@code source} in the image are copied to {@code target}. */
    record CopyEntry(long length, long target, long source) {
    }

    record Copy(List<CopyEntry> entries) implements Descriptor {
        public Copy {
            entries = List.copyOf(entries);
        }

        public int type() {
            return TYPE_COPY;
        }

        public int size() {
            return COMMON_BYTES + COPY_ENTRY_BYTES * entries.size();
        }
    }

    record Range(long offset, long length) {
        public long end() {
            return offset + length;
        }
    }

    /** Cancels write/copy ops (and dedup insertions) of EARLIER transactions on these ranges. */
    record Revoke(List<Range> ranges) implements Descriptor {
        public Revoke {
            ranges = List.copyOf(ranges);
        }

        public int type() {
            return TYPE_REVOKE;
        }

        public int size() {
            return COMMON_BYTES + REVOKE_ENTRY_BYTES * ranges.size();
        }
    }

    /** A SHA-256 hash and the host cluster offset it refers to. */
    record DedupEntry(byte[] hash, long hostOffset) {
        public DedupEntry {
            if (hash.length != HASH_BYTES) {
                throw new IllegalArgumentException("dedup hash must be " + HASH_BYTES + " bytes, not " + hash.length);
            }
            hash = hash.clone();
        }

        @Override
        public byte[] hash() {
            return hash.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof DedupEntry e && e.hostOffset == hostOffset && Arrays.equals(e.hash, hash);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(hash) * 31 + Long.hashCode(hostOffset);
        }

        @Override
        public String toString() {
            return HexFormat.of().formatHex(hash) + " -> 0x" + Long.toHexString(hostOffset);
        }
    }

    /** Type 4 (insert) or 5 (delete) entries of the deduplication index. */
    record Dedup(boolean insert, List<DedupEntry> entries) implements Descriptor {
        public Dedup {
            entries = List.copyOf(entries);
        }

        public int type() {
            return insert ? TYPE_DEDUP_INSERT : TYPE_DEDUP_DELETE;
        }

        public int size() {
            return COMMON_BYTES + DEDUP_ENTRY_BYTES * entries.size();
        }
    }
}
