package io.qjournal.batch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The report files of a job instance: reports/JOB-INSTANCE/records.jsonl (one JSON object per
 * image, appended as images finish) and summary.txt (written when an execution ends). The
 * repository holds the same records; the files are for operators on the host.
 */
public final class Reports {
    private static final Object APPEND_LOCK = new Object();

    private Reports() {
    }

    public static Path dirOf(BatchSettings s, String job, long instanceId) {
        return s.reportsDir().resolve(job + "-" + instanceId);
    }

    /** Appends the records' lines in one write (a recorder commits several at a time). */
    static void append(BatchSettings s, String job, long instanceId, List<ImageRecord> records) throws IOException {
        if (records.isEmpty()) {
            return;
        }
        Path dir = dirOf(s, job, instanceId);
        StringBuilder lines = new StringBuilder();
        for (ImageRecord r : records) {
            lines.append(ImageRecord.json(r.toJson(job))).append('\n');
        }
        byte[] line = lines.toString().getBytes(StandardCharsets.UTF_8);
        synchronized (APPEND_LOCK) {
            Files.createDirectories(dir);
            try (FileChannel ch = FileChannel.open(dir.resolve("records.jsonl"), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
                ch.write(ByteBuffer.wrap(line));
            }
        }
    }

    /** Rewrites both files from the repository's records (a crash may have cut the appended file short). */
    static void write(BatchSettings s, String job, long instanceId, List<ResultStore.StoredImage> images)
            throws IOException {
        Path dir = dirOf(s, job, instanceId);
        Files.createDirectories(dir);
        StringBuilder jsonl = new StringBuilder();
        for (ResultStore.StoredImage i : images) {
            jsonl.append(ImageRecord.json(i.record().toJson(job))).append('\n');
        }
        synchronized (APPEND_LOCK) {
            replace(dir.resolve("records.jsonl"), jsonl.toString());
        }
        replace(dir.resolve("summary.txt"), human(job, instanceId, images));
    }

    private static void replace(Path target, String text) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    public static Finding worst(List<ResultStore.StoredImage> images) {
        Finding w = Finding.CLEAN;
        for (ResultStore.StoredImage i : images) {
            w = Finding.worst(w, i.record().result());
        }
        return w;
    }

    /** The human summary: counts by result, then every image that is not clean. */
    public static String human(String job, long instanceId, List<ResultStore.StoredImage> images) {
        Map<Finding, Integer> counts = new EnumMap<>(Finding.class);
        long won = 0;
        long before = 0;
        long after = 0;
        for (ResultStore.StoredImage i : images) {
            counts.merge(i.record().result(), 1, Integer::sum);
            won += i.record().bytesWon();
            before += Math.max(0, i.record().sizeBefore());
            after += Math.max(0, i.record().sizeAfter());
        }
        StringBuilder sb = new StringBuilder();
        sb.append(job).append(" (job instance ").append(instanceId).append("): ").append(images.size())
                .append(" images, worst finding ").append(worst(images).label()).append('\n');
        for (Finding f : Finding.values()) {
            if (counts.containsKey(f)) {
                sb.append(String.format("  %-14s %d%n", f.label(), counts.get(f)));
            }
        }
        if (job.equals("dedup-compaction")) {
            sb.append(String.format("  size before %d bytes, after %d bytes, %d bytes won%n", before, after, won));
        }
        for (ResultStore.StoredImage i : images) {
            ImageRecord r = i.record();
            if (r.result() == Finding.CLEAN && !r.replayed()) {
                continue;
            }
            sb.append(r.result().label()).append(' ').append(r.image());
            if (r.leaks() != 0) {
                sb.append(" leaks=").append(r.leaks());
            }
            if (r.corruptions() != 0) {
                sb.append(" corruptions=").append(r.corruptions());
            }
            if (r.replayed()) {
                sb.append(" (journal replayed)");
            }
            if (r.message() != null && !r.message().isEmpty()) {
                sb.append(": ").append(r.message());
            }
            sb.append('\n');
        }
        return sb.toString();
    }
}
