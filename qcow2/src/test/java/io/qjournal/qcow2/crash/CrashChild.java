package io.qjournal.qcow2.crash;

import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;

/**
 * The child JVM of {@link ProcessCrashIT}: writes a deterministic stream of guest writes through
 * the journal into a real file, flushing every {@code interval} writes and printing
 * {@code FLUSHED n} (n = writes completed) after each flush returned, to stdout and to the side
 * file {@code FILE.flushed}, until it is killed.
 *
 * <p>Usage: {@code CrashChild FILE SEED INTERVAL JOURNAL-SPEC}.
 */
public final class CrashChild {
    static final int WINDOW = 4 << 20;
    static final int MAX_OPS = 1_000_000;

    private CrashChild() {
    }

    /** Write number i of the stream with this seed: {offset, data}. */
    static Object[] op(long seed, int i) {
        Random r = new Random(seed * 0x9E3779B97F4A7C15L + i);
        int len = r.nextInt(4) == 0 ? 512 * (1 + r.nextInt(128)) : 1 + r.nextInt(8192);
        long off = r.nextInt(WINDOW - len);
        byte[] data = new byte[len];
        r.nextBytes(data);
        return new Object[] {off, data};
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        long seed = Long.parseLong(args[1]);
        int interval = Integer.parseInt(args[2]);
        JournalOptions journal = JournalOptions.parse(args[3]);
        Path logFile = Path.of(file + ".flushed");
        try (FileChannel log = FileChannel.open(logFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
                Qcow2Image img = Qcow2Image.open(file, OpenOptions.readWrite().journal(journal))) {
            System.out.println("READY " + img.journalEnabled());
            System.out.flush();
            for (int i = 0; i < MAX_OPS; i++) {
                Object[] op = op(seed, i);
                byte[] data = (byte[]) op[1];
                if ((i & 1) == 1) {
                    // The daemon's path: straight from a direct buffer, fresh data after the lock.
                    img.write((Long) op[0], ByteBuffer.allocateDirect(data.length).put(data).flip());
                } else {
                    img.write((Long) op[0], data, 0, data.length);
                }
                if ((i + 1) % interval == 0) {
                    img.flush();
                    // The side file survives SIGKILL in the page cache; stdout is a second witness.
                    log.write(ByteBuffer.wrap(("FLUSHED " + (i + 1) + "\n").getBytes(StandardCharsets.US_ASCII)));
                    System.out.println("FLUSHED " + (i + 1));
                    System.out.flush();
                }
            }
        }
        System.out.println("DONE");
    }
}
