package io.qjournal.qcow2.cluster;

import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Bytes of a guest write: a heap array, or a (direct) buffer written without copying. */
public sealed interface WriteSource {
    /** Writes {@code len} bytes from index {@code from} to the file at {@code at}. */
    void writeTo(Storage storage, long at, int from, int len) throws IOException;

    void copyTo(int from, byte[] dst, int dstOff, int len);

    static WriteSource of(byte[] buf) {
        return new Array(buf);
    }

    /** Indices are absolute within the buffer; its position is left alone. */
    static WriteSource of(ByteBuffer buf) {
        return new Buffer(buf);
    }

    /** A heap array. */
    record Array(byte[] buf) implements WriteSource {
        @Override
        public void writeTo(Storage storage, long at, int from, int len) throws IOException {
            storage.write(at, buf, from, len);
        }

        @Override
        public void copyTo(int from, byte[] dst, int dstOff, int len) {
            System.arraycopy(buf, from, dst, dstOff, len);
        }
    }

    /** A buffer, heap or direct. */
    record Buffer(ByteBuffer buf) implements WriteSource {
        @Override
        public void writeTo(Storage storage, long at, int from, int len) throws IOException {
            storage.write(at, buf.slice(from, len));
        }

        @Override
        public void copyTo(int from, byte[] dst, int dstOff, int len) {
            buf.get(from, dst, dstOff, len);
        }
    }
}
