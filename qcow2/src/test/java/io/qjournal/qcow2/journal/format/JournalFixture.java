package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.storage.MemoryStorage;
import io.qjournal.qcow2.storage.Storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Shared helpers: an image with a journal area and a metadata area that replays may write. */
final class JournalFixture {
    static final long JOFF = 64 * 1024;
    static final long META = 1024 * 1024;
    static final long META_END = META + 256 * 1024;

    /** Allows exactly [META, META_END) as replay target. */
    static final TargetValidator META_ONLY = (offset, length) -> {
        if (offset < META || offset + length > META_END) {
            throw new IOException("test.img: replay target 0x" + Long.toHexString(offset) + " outside metadata");
        }
    };

    private JournalFixture() {
    }

    static MemoryStorage image() throws IOException {
        MemoryStorage s = new MemoryStorage("test.img");
        s.truncate(META_END + 64 * 1024);
        return s;
    }

    static byte[] pattern(long seed, int len) {
        byte[] b = new byte[len];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Recomputes the checksum of the descriptor block at ring block {@code index}. */
    static void resealBlock(Storage s, JournalLayout l, ChecksumKind kind, int index) throws IOException {
        byte[] block = new byte[l.blockSize()];
        s.read(l.blockOffset(index), ByteBuffer.wrap(block));
        long nb = Math.min(ByteBuffer.wrap(block).getInt(20) & 0xFFFF_FFFFL, l.blockCount() - index);
        ChecksumKind.Accumulator acc = kind.start();
        acc.update(block, 0, 4);
        acc.update(block, 8, block.length - 8);
        byte[] data = new byte[(int) (nb * l.blockSize())];
        s.read(l.blockOffset(index + 1L), ByteBuffer.wrap(data));
        acc.update(data, 0, data.length);
        ByteBuffer.wrap(block).putInt(4, acc.value());
        s.write(l.blockOffset(index), ByteBuffer.wrap(block, 0, 8));
    }

    /** Writes header fields then a matching checksum (so only the field checks can reject it). */
    static void patchHeader(Storage s, long joff, int fieldOffset, int value, int blockSize) throws IOException {
        byte[] block = new byte[blockSize];
        s.read(joff, ByteBuffer.wrap(block));
        ByteBuffer.wrap(block).putInt(fieldOffset, value);
        int flags = ByteBuffer.wrap(block).getInt(JournalHeader.FLAGS_OFFSET);
        ByteBuffer.wrap(block).putInt(JournalHeader.CHECKSUM_OFFSET,
                JournalHeader.checksum(block, blockSize, JournalHeader.kindOf(flags)));
        s.write(joff, ByteBuffer.wrap(block));
    }

    /** A storage that fails every write after the first {@code allowed}: a crash mid-replay. */
    static final class CrashingStorage extends MemoryStorage {
        private int allowed;

        CrashingStorage(byte[] initial, int allowed) {
            super("test.img", initial);
            this.allowed = allowed;
        }

        @Override
        public synchronized void write(long offset, ByteBuffer src) throws IOException {
            if (allowed-- <= 0) {
                throw new IOException("test.img: simulated crash");
            }
            super.write(offset, src);
        }
    }

    /** Records every written range. */
    static final class RecordingStorage extends MemoryStorage {
        final List<long[]> writes = new ArrayList<>();

        RecordingStorage(byte[] initial) {
            super("test.img", initial);
        }

        @Override
        public synchronized void write(long offset, ByteBuffer src) throws IOException {
            writes.add(new long[] {offset, src.remaining()});
            super.write(offset, src);
        }
    }
}
