package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.header.HeaderExtension;
import java.nio.ByteBuffer;

/**
 * The "qjnl" header extension (type 0x716a6e6c): where the main journal lives.
 *
 * <pre>
 *  0                   8                  16
 *  +-------------------+-------------------+
 *  | journal offset u64| journal size u64  |
 *  +-------------------+-------------------+
 * </pre>
 */
public record JournalExtension(long offset, long size) {
    public static final int LENGTH = 16;

    public static JournalExtension of(Header h, String file) throws Qcow2Exception {
        HeaderExtension e = h.extension(HeaderExtension.JOURNAL);
        if (e == null) {
            return null;
        }
        byte[] d = e.data();
        if (d.length < LENGTH) {
            throw new Qcow2Exception(file, "journal header extension is " + d.length + " bytes, expected 16");
        }
        ByteBuffer b = ByteBuffer.wrap(d);
        long off = b.getLong(0);
        long size = b.getLong(8);
        int cs = h.clusterSize();
        if (off <= 0 || (off & (cs - 1)) != 0 || off > HeaderCodec.MAX_OFFSET) {
            throw new Qcow2Exception(file, String.format("journal offset 0x%x is not a valid cluster offset", off));
        }
        if (size < 1024 || size > JournalHeader.MAX_JOURNAL_SIZE || size > HeaderCodec.MAX_OFFSET - off) {
            throw new Qcow2Exception(file, "journal size " + size + " is out of range");
        }
        return new JournalExtension(off, size);
    }

    public HeaderExtension toExtension() {
        return new HeaderExtension(HeaderExtension.JOURNAL, ByteBuffer.allocate(LENGTH).putLong(offset).putLong(size).array());
    }

    /** Clusters the journal area occupies. */
    public long clusters(int clusterSize) {
        return (size + clusterSize - 1) / clusterSize;
    }
}
