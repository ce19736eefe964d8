package io.qjournal.qcow2.dedup;

import java.nio.file.Path;

/**
 * The child JVM of {@link DedupCrashIT}: runs one dedup-compaction and prints {@code READY}
 * before it starts, {@code PROGRESS} at every progress report and {@code DONE <result>} after it
 * returned, until it is killed.
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
        DedupCompactor.Result r = DedupCompactor.run(file, new DedupCompactor.Options(false), (scanned, won) -> {
            // The parent picks a report to kill after: kills spread over the work whatever its speed.
            System.out.println("PROGRESS " + scanned + " " + won);
            System.out.flush();
        });
        System.out.println("DONE " + r);
        System.out.flush();
    }
}
