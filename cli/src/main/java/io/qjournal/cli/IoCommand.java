package io.qjournal.cli;

import io.qjournal.qcow2.JournalOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** qemu-io compatible subset: read, write, discard, flush, map; each -c runs in order. */
@Command(name = "io", description = "Run qemu-io style commands on an image.", mixinStandardHelpOptions = true,
        version = "qjournal " + Main.VERSION,
        footer = {"", "Commands: read [-P pattern] [-v] [-q] OFF LEN | write [-P pattern] [-z] [-c] [-q] OFF LEN |",
            "  discard [-q] OFF LEN | flush | map.  Numbers: decimal, 0x hex, suffixes b k M G T P E."})
public final class IoCommand implements Callable<Integer> {
    @Option(names = "-c", paramLabel = "CMD", description = "command to run (repeatable; default: read stdin)")
    List<String> commands = new ArrayList<>();

    @Option(names = "-f", paramLabel = "FMT", description = "image format (probed by default)")
    String format;

    @Option(names = {"-r", "--read-only"}, description = "open read-only")
    boolean readOnly;

    @Option(names = {"-U", "--force-share"}, description = "open without taking image locks")
    boolean forceShare;

    @Option(names = {"-t", "--cache"}, paramLabel = "MODE", description = "accepted for compatibility")
    String cache;

    @Option(names = "--journal", arity = "0..1", fallbackValue = "", paramLabel = "OPTS",
            preprocessor = JournalOptionPreprocessor.class,
            description = "open with the metadata journal: size=8M,block-size=4k,commit-interval=5s,commit-datasize=1M,"
                    + "checksum=crc32c|sum,durable-commit=on|off,data=journal|ordered")
    String journal;

    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    @Override
    public Integer call() throws IOException {
        JournalOptions journalOptions = journal == null ? null : parseJournalOptions(journal);
        if (format != null) {
            Images.checkFormatName(format);
        }
        boolean failed = false;
        try (Disk disk = Images.open(file, format, !readOnly, !forceShare, journalOptions)) {
            IoCommands runner = new IoCommands(disk, readOnly);
            if (!commands.isEmpty()) {
                for (String c : commands) {
                    failed |= !runner.run(c);
                }
            } else {
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
                boolean prompt = System.console() != null;
                while (true) {
                    if (prompt) {
                        System.out.print("qjournal-io> ");
                        System.out.flush();
                    }
                    String line = in.readLine();
                    if (line == null || line.trim().equals("quit") || line.trim().equals("q")) {
                        break;
                    }
                    if (!line.isBlank()) {
                        failed |= !runner.run(line);
                    }
                    System.out.flush();
                }
            }
        }
        return failed ? 1 : 0;
    }

    /** Parses --journal's value with the engine's parser; a bad value is one usage line. */
    static JournalOptions parseJournalOptions(String s) {
        try {
            return JournalOptions.parse(s);
        } catch (IllegalArgumentException e) {
            throw new CliException("--journal: " + e.getMessage());
        }
    }
}
