package io.qjournal.cli;

import io.qjournal.qcow2.JournalStatus;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Replays a dirty journal and removes it, leaving a plain qcow2 image QEMU opens: opening the
 * image for writing replays it, closing it without a journal takes the journal away.
 */
@Command(name = "replay", description = "Replay an image's dirty journal and remove the journal.",
        mixinStandardHelpOptions = true, version = "qjournal " + Main.VERSION)
public final class ReplayCommand implements Callable<Integer> {
    @Option(names = "--output", paramLabel = "FMT", description = "human (default) or json")
    String output = "human";

    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    @Override
    public Integer call() throws Exception {
        boolean json = Output.isJson(output);
        JournalStatus before;
        try (Qcow2Image img = Qcow2Image.open(file, OpenOptions.readWrite().openBacking(false))) {
            before = img.journalStatusAtOpen();
        }
        if (json) {
            java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
            m.put("filename", file.toString());
            m.put("journal-present", before.present());
            m.put("journal-valid", before.valid());
            m.put("journal-dirty", before.dirty());
            m.put("replayed", before.present() && before.valid());
            m.put("replayed-bytes", before.usedBytes());
            System.out.println(Json.pretty(m));
        } else if (!before.present()) {
            System.out.println(file + ": no journal; nothing to replay.");
        } else if (!before.valid()) {
            System.out.println(file + ": the journal was invalidated by another program; it was removed without replay.");
        } else {
            System.out.println(file + ": journal replayed (" + before.usedBytes() + " bytes of committed transactions)"
                    + " and removed.");
        }
        return 0;
    }
}
