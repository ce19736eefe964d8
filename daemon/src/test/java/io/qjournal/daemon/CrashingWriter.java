package io.qjournal.daemon;

import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Child-process helper: opens an image with a live journal, writes and commits (so the
 * journal holds committed transactions not yet checkpointed), then dies without closing, as
 * a crashed daemon would. Its arguments: PATH CLUSTERS.
 */
public final class CrashingWriter {
    public static void main(String[] args) throws Exception {
        Path path = Path.of(args[0]);
        int clusters = Integer.parseInt(args[1]);
        // No timed commit or checkpoint may clean up behind our back before the crash.
        JournalOptions j = JournalOptions.defaults().commitInterval(Duration.ofHours(1)).commitDatasize(1L << 40);
        Qcow2Image img = Qcow2Image.open(path, OpenOptions.readWrite().journal(j));
        int cs = img.clusterSize();
        ByteBuffer b = ByteBuffer.allocate(cs);
        for (int i = 0; i < clusters; i++) {
            b.clear();
            while (b.hasRemaining()) {
                b.put((byte) (i + 1));
            }
            b.flip();
            // Spread out so each write allocates a cluster (and maybe an L2 table).
            img.write((long) i * 7 * cs, b);
            img.flush();
        }
        if (!img.isDirty()) {
            System.err.println("CrashingWriter: image not dirty after commits");
            Runtime.getRuntime().halt(3);
        }
        Runtime.getRuntime().halt(0);
    }

    /** Runs this class in a child JVM and waits for it to "crash". */
    static void run(Path image, int clusters) throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), CrashingWriter.class.getName(), image.toString(),
                Integer.toString(clusters)).inheritIO().start();
        try {
            if (!p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new AssertionError("CrashingWriter failed for " + image);
            }
        } finally {
            p.destroyForcibly();
        }
    }
}
