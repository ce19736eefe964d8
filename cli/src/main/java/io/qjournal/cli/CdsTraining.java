package io.qjournal.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The training run bin/qjournal records its AppCDS archive from: one pass over the commands
 * an operator runs (create, io and bench with and without the journal, check, info, map,
 * convert, replay) on small scratch images, so the archive holds the classes of every
 * common path whichever command happens to run first after a build. With the argument
 * {@code batch} it trains the batch commands' own archive instead (Weld, JBeret and H2 start
 * a sweep and a dedup dry run over a scratch directory, in a scratch state directory): those
 * thousands of classes would only slow every other command's start. Its output is discarded
 * and its failures are ignored: a training run must never fail the command that triggered it.
 */
public final class CdsTraining {
    private CdsTraining() {
    }

    public static void main(String[] args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        PrintStream sink = new PrintStream(OutputStream.nullOutputStream());
        Path dir = null;
        // A hung training run would hang the user's command behind it.
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(120_000);
                Runtime.getRuntime().halt(0);
            } catch (InterruptedException e) {
                // Training finished.
            }
        }, "cds-training-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            dir = Files.createTempDirectory("qjournal-cds");
            System.setOut(sink);
            System.setErr(sink);
            if (args.length > 0 && args[0].equals("batch")) {
                trainBatch(dir);
            } else {
                train(dir);
            }
        } catch (IOException | RuntimeException e) {
            // No archive content is worth failing a user's command for.
        } finally {
            System.setOut(out);
            System.setErr(err);
            if (dir != null) {
                removeTree(dir);
            }
        }
        System.exit(0);
    }

    private static void train(Path dir) {
        String a = dir.resolve("a.qcow2").toString();
        String b = dir.resolve("b.qcow2").toString();
        String c = dir.resolve("c.qcow2").toString();
        String raw = dir.resolve("d.raw").toString();
        List<String[]> runs = List.of(
                new String[] {"create", "-f", "qcow2", a, "64M"},
                new String[] {"io", "--journal", "-c", "write -P 0x11 0 4k", "-c", "write -P 0x22 1M 128k",
                    "-c", "flush", "-c", "read -P 0x11 0 4k", "-c", "discard 1M 64k", "-c", "write -z 2M 64k",
                    "-c", "map", a},
                new String[] {"bench", "-f", "qcow2", "-w", "-s", "4k", "-S", "64k", "-d", "1",
                    "--flush-interval=1", "-c", "64", "--journal", a},
                new String[] {"bench", "-f", "qcow2", "-w", "-s", "4k", "-S", "64k", "-c", "256",
                    "--flush-interval=64", "--journal", a},
                new String[] {"create", "-f", "qcow2", b, "64M"},
                new String[] {"bench", "-f", "qcow2", "-w", "-s", "4k", "-c", "256", "--flush-interval=64", b},
                new String[] {"bench", "-f", "qcow2", "-w", "-s", "1M", "-c", "8", b},
                new String[] {"bench", "-f", "qcow2", "-s", "4k", "-c", "256", b},
                new String[] {"check", a},
                new String[] {"check", "--output=json", b},
                new String[] {"info", a},
                new String[] {"info", "--output=json", b},
                new String[] {"map", a},
                new String[] {"convert", "-O", "qcow2", a, c},
                new String[] {"convert", "-O", "raw", b, raw},
                new String[] {"replay", c});
        runAll(runs);
    }

    private static void trainBatch(Path dir) throws IOException {
        Path images = Files.createDirectories(dir.resolve("images"));
        String state = dir.resolve("state").toString();
        String img = images.resolve("a.qcow2").toString();
        String dirs = "dirs=" + images;
        runAll(List.of(
                new String[] {"create", "-f", "qcow2", img, "16M"},
                new String[] {"io", "-c", "write -P 0x33 0 256k", "-c", "write -P 0x33 1M 256k", img},
                new String[] {"batch", "start", "--state-dir", state, "integrity-sweep", "-p", dirs, "--wait"},
                new String[] {"batch", "start", "--state-dir", state, "dedup-compaction", "-p", dirs,
                    "-p", "dry-run=true", "--wait"},
                new String[] {"batch", "status", "--state-dir", state, "1"},
                new String[] {"batch", "list", "--state-dir", state},
                new String[] {"batch", "report", "--state-dir", state, "1", "--output=json"}));
    }

    private static void runAll(List<String[]> runs) {
        for (String[] r : runs) {
            try {
                Main.run(r);
            } catch (RuntimeException | Error e) {
                // Keep going: later commands still teach the archive their classes.
            }
        }
    }

    private static void removeTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    // A temp file left behind is harmless.
                }
            });
        } catch (IOException e) {
            // Same.
        }
    }
}
