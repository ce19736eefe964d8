package io.qjournal.qcow2;

import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.meta.MetaWrite;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Persistent dirty bitmaps are kept and accounted, but this engine does not update them. So
 * that no incremental backup trusts a stale bitmap, a writable open sets each bitmap's IN_USE
 * flag, exactly what QEMU leaves behind when it could not store a bitmap: QEMU then treats the
 * bitmaps as inconsistent, and `qemu-img check` stays clean.
 */
final class BitmapsInUse {
    static final int DIR_ENTRY_FLAGS_OFFSET = 12;
    static final int DIR_ENTRY_HEADER = 24;
    static final int FLAG_IN_USE = 1;
    static final long MAX_DIRECTORY_BYTES = 64L << 20;

    private BitmapsInUse() {
    }

    /** The directory with every IN_USE flag set, or null when nothing needs writing. */
    static MetaWrite markAll(Storage storage, Header h) throws IOException {
        HeaderExtension ext = h.extension(HeaderExtension.BITMAPS);
        if (ext == null || !h.has(Feature.BITMAPS)) {
            return null;
        }
        String file = storage.name();
        ByteBuffer e = ByteBuffer.wrap(ext.data());
        if (e.capacity() < 24) {
            throw new Qcow2Exception(file, "bitmaps header extension is too short");
        }
        long nb = Integer.toUnsignedLong(e.getInt(0));
        long size = e.getLong(8);
        long offset = e.getLong(16);
        if (nb == 0) {
            return null;
        }
        if (size <= 0 || size > MAX_DIRECTORY_BYTES || size < nb * DIR_ENTRY_HEADER) {
            throw new Qcow2Exception(file, "bitmap directory size " + size + " is out of range");
        }
        HeaderCodec.validateTable(offset, size, h.clusterSize(), storage.size(), "bitmap directory", file);
        byte[] dir = new byte[(int) size];
        storage.read(offset, dir, 0, dir.length);
        ByteBuffer d = ByteBuffer.wrap(dir);
        boolean changed = false;
        int pos = 0;
        for (long i = 0; i < nb; i++) {
            if (pos + DIR_ENTRY_HEADER > dir.length) {
                throw new Qcow2Exception(file, "bitmap directory entry " + i + " runs past the directory");
            }
            int flags = d.getInt(pos + DIR_ENTRY_FLAGS_OFFSET);
            int nameSize = d.getShort(pos + 18) & 0xffff;
            long extra = Integer.toUnsignedLong(d.getInt(pos + 20));
            long len = DIR_ENTRY_HEADER + extra + nameSize;
            if (len > dir.length - pos) {
                throw new Qcow2Exception(file, "bitmap directory entry " + i + " runs past the directory");
            }
            if ((flags & FLAG_IN_USE) == 0) {
                d.putInt(pos + DIR_ENTRY_FLAGS_OFFSET, flags | FLAG_IN_USE);
                changed = true;
            }
            pos += (int) ((len + 7) & ~7L);
        }
        return changed ? new MetaWrite(offset, dir) : null;
    }
}
