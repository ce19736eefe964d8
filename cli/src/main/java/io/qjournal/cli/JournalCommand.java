package io.qjournal.cli;

import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.journal.format.Journal;
import io.qjournal.qcow2.journal.format.JournalDump;
import io.qjournal.qcow2.journal.format.JournalExtension;
import io.qjournal.qcow2.storage.FileStorage;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** `qjournal journal dump FILE`: the journal header and every transaction, for operators who debug. */
@Command(name = "journal", description = "Inspect an image's journal: journal dump FILE.",
        mixinStandardHelpOptions = true, version = "qjournal " + Main.VERSION)
public final class JournalCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "ACTION", description = "dump")
    String action;

    @Parameters(index = "1", paramLabel = "FILE")
    Path file;

    @Override
    public Integer call() throws Exception {
        if (!action.equals("dump")) {
            throw new CliException("journal: unknown action '" + action + "' (use: journal dump FILE)");
        }
        try (FileStorage s = FileStorage.open(file, false)) {
            Header h = io.qjournal.qcow2.header.HeaderCodec.read(s);
            JournalExtension ext = JournalExtension.of(h, s.name());
            if (ext == null) {
                System.out.println(file + ": no journal");
                return 0;
            }
            System.out.println("journal extension: offset 0x" + Long.toHexString(ext.offset()) + ", size "
                    + ext.size() + ", valid " + h.has(io.qjournal.qcow2.header.Feature.JOURNAL_VALID)
                    + ", dirty " + h.has(io.qjournal.qcow2.header.Feature.JOURNAL_DIRTY));
            Journal j = Journal.open(s, ext.offset(), ext.size(), h.clusterBits());
            for (String line : JournalDump.describe(j)) {
                System.out.println(line);
            }
        }
        return 0;
    }
}
