package io.qjournal.qcow2.header;

import java.util.Arrays;

/** One header extension as stored after the header: type, then its data (unpadded). */
public record HeaderExtension(int type, byte[] data) {
    public static final int END = 0;
    public static final int BACKING_FORMAT = 0xe2792aca;
    public static final int FEATURE_NAME_TABLE = 0x6803f857;
    public static final int BITMAPS = 0x23852875;
    public static final int FULL_DISK_ENCRYPTION = 0x0537be77;
    public static final int EXTERNAL_DATA_FILE = 0x44415441;
    /** qjournal's own extension: where the journal lives ("qjnl"). */
    public static final int JOURNAL = 0x716a6e6c;

    public HeaderExtension {
        data = data.clone();
    }

    @Override
    public byte[] data() {
        return data.clone();
    }

    /** Bytes on disk: 8 bytes type+length, data padded to a multiple of 8. */
    public int encodedSize() {
        return 8 + ((data.length + 7) & ~7);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HeaderExtension e && e.type == type && Arrays.equals(e.data, data);
    }

    @Override
    public int hashCode() {
        return type * 31 + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return String.format("HeaderExtension[0x%08x, %d bytes]", type, data.length);
    }
}
