package io.qjournal.qcow2.dedup;

import java.nio.file.Path;

/**
 * The child JVM of {@link DedupCrashIT}: runs one dedup-compaction and prints {@code READY}
 * before it starts, {@code STARTED} at its first progress report and {@code DONE <result>}
 * after it returned, until it is killed.
 *
 * <p>Usage: {@code DedupCrashChild FILE}.
 */
public final class DedupCrashChild {
    private DedupCrashChild() {
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        System.out.println("READY");
        System.out.flush();
        boolean[] started = new boolean[1];
        DedupCompactor.Result r = DedupCompactor.run(file, new DedupCompactor.Options(false), (scanned, won) -> {
            if (!started[0]) {
                // The image is open with its journal and the first run of clusters was read.
                started[0] = true;
                System.out.println("STARTED");
                System.out.flush();
            }
        });
        System.out.println("DONE " + r);
        System.out.flush();
    }
}
