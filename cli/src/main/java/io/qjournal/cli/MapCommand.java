package io.qjournal.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "map", description = "Show the allocation map of an image and its backing chain (as qemu-img map).",
        mixinStandardHelpOptions = true, version = "qjournal " + Main.VERSION)
public final class MapCommand implements Callable<Integer> {
    @Option(names = "--output", paramLabel = "human|json", description = "output format (default human)")
    String output = "human";

    @Option(names = {"-U", "--force-share"}, description = "open without taking image locks")
    boolean forceShare;

    @Option(names = "-f", paramLabel = "FMT", description = "image format (probed by default)")
    String format;

    @Option(names = {"-s", "--start-offset"}, paramLabel = "OFFSET", description = "first byte to map")
    String startOffset;

    @Option(names = {"-l", "--max-length"}, paramLabel = "LEN", description = "bytes to map")
    String maxLength;

    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    @Override
    public Integer call() throws IOException {
        boolean json = Output.isJson(output);
        long start = startOffset == null ? 0 : Numbers.parseSize(startOffset);
        try (Disk disk = Images.open(file, format, false, !forceShare)) {
            ChainMapper mapper = new ChainMapper(disk.device());
            long end = mapper.size();
            if (maxLength != null) {
                end = Math.min(end, start + Numbers.parseSize(maxLength));
            }
            StringBuilder out = new StringBuilder();
            if (json) {
                out.append('[');
                long[] n = {0};
                mapper.forEach(start, end, (e, next) -> {
                    out.append("{ \"start\": ").append(e.start()).append(", \"length\": ").append(e.length())
                            .append(", \"depth\": ").append(e.depth()).append(", \"present\": ").append(e.present())
                            .append(", \"zero\": ").append(e.zero()).append(", \"data\": ").append(e.data());
                    if (e.offset() >= 0) {
                        out.append(", \"offset\": ").append(e.offset());
                    }
                    out.append('}');
                    if (next != null) {
                        out.append(",\n");
                    }
                    if (++n[0] % 4096 == 0) {
                        System.out.print(out);
                        out.setLength(0);
                    }
                });
                out.append("]\n");
                System.out.print(out);
            } else {
                System.out.printf("%-16s%-16s%-16s%s%n", "Offset", "Length", "Mapped to", "File");
                final ChainMapper.Entry[] pending = {null};
                mapper.forEach(start, end, (e, next) -> {
                    if (e.data() && e.offset() < 0) {
                        throw new CliException("File contains external, encrypted or compressed clusters.");
                    }
                    // Human mode ignores the zero/data distinction of non-data ranges (qemu-img.c).
                    if (pending[0] != null && pending[0].start() + pending[0].length() == e.start()
                            && e.data() && !e.zero() && pending[0].file().equals(e.file())
                            && pending[0].offset() + pending[0].length() == e.offset()) {
                        pending[0] = pending[0].extend(e.length());
                        return;
                    }
                    flushHuman(pending[0]);
                    pending[0] = e.data() && !e.zero() ? e : null;
                });
                flushHuman(pending[0]);
            }
        }
        return 0;
    }

    private static void flushHuman(ChainMapper.Entry e) {
        if (e != null) {
            System.out.print(String.format("%-16s%-16s%-16s%s%n", hex(e.start()), hex(e.length()), hex(e.offset()), e.file()));
        }
    }

    /** C's "%#x": no 0x prefix for zero. */
    private static String hex(long v) {
        return v == 0 ? "0" : "0x" + Long.toHexString(v);
    }
}
