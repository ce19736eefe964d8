package io.qjournal.cli;

import io.qjournal.qcow2.JournalStatus;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.SnapshotInfo;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderExtension;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "info", description = "Show image information (as qemu-img info).", mixinStandardHelpOptions = true,
        version = "qjournal " + Main.VERSION)
public final class InfoCommand implements Callable<Integer> {
    @Option(names = "--output", paramLabel = "human|json", description = "output format (default human)")
    String output = "human";

    @Option(names = {"-U", "--force-share"}, description = "open without taking image locks")
    boolean forceShare;

    @Option(names = "--backing-chain", description = "show every image of the backing chain")
    boolean backingChain;

    @Option(names = "-f", paramLabel = "FMT", description = "image format (probed by default)")
    String format;

    @Parameters(index = "0", paramLabel = "FILE")
    String file;

    @Override
    public Integer call() throws IOException {
        boolean json = Output.isJson(output);
        List<Map<String, Object>> infos = new ArrayList<>();
        String name = file;
        String fmt = format;
        while (name != null) {
            if (infos.size() > 64) {
                throw new CliException(file + ": backing chain too long (loop?)");
            }
            Map<String, Object> info = describe(name, fmt);
            infos.add(info);
            if (!backingChain) {
                break;
            }
            name = (String) info.get("full-backing-filename");
            fmt = (String) info.get("backing-filename-format");
        }
        if (json) {
            System.out.println(Json.pretty(backingChain ? infos : infos.get(0)));
        } else {
            for (int i = 0; i < infos.size(); i++) {
                if (i > 0) {
                    System.out.println();
                }
                System.out.print(human(infos.get(i)));
            }
        }
        return 0;
    }

    /** The image's information with QEMU's ImageInfo key names. */
    Map<String, Object> describe(String name, String fmt) throws IOException {
        Path p = Path.of(name);
        String f = Images.format(p, fmt);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("filename", name);
        m.put("format", f);
        if (f.equals("raw")) {
            m.put("virtual-size", Files.size(p));
            m.put("actual-size", Images.allocatedBytes(p));
            m.put("dirty-flag", false);
            return m;
        }
        try (Qcow2Image img = Images.openQcow2(p, false, !forceShare, false)) {
            Header h = img.header();
            m.put("virtual-size", img.size());
            m.put("actual-size", img.actualSize());
            m.put("cluster-size", (long) img.clusterSize());
            m.put("dirty-flag", h.has(Feature.DIRTY));
            if (h.backingFile() != null && !h.backingFile().isEmpty()) {
                m.put("backing-filename", h.backingFile());
                m.put("full-backing-filename", Images.fullBackingName(name, h.backingFile()));
                if (h.backingFormat() != null) {
                    m.put("backing-filename-format", h.backingFormat());
                }
            }
            List<SnapshotInfo> snaps = img.snapshots();
            if (!snaps.isEmpty()) {
                List<Object> list = new ArrayList<>();
                for (SnapshotInfo s : snaps) {
                    Map<String, Object> sm = new LinkedHashMap<>();
                    sm.put("id", s.id());
                    sm.put("name", s.name());
                    sm.put("vm-state-size", s.vmStateSize());
                    sm.put("date-sec", s.dateSec());
                    sm.put("date-nsec", s.dateNsec());
                    sm.put("vm-clock-sec", s.vmClockNsec() / 1_000_000_000L);
                    sm.put("vm-clock-nsec", s.vmClockNsec() % 1_000_000_000L);
                    if (s.icount() != -1) {
                        sm.put("icount", s.icount());
                    }
                    list.add(sm);
                }
                m.put("snapshots", list);
            }
            Map<String, Object> data = new LinkedHashMap<>();
            data.put("compat", h.version() >= 3 ? "1.1" : "0.10");
            data.put("compression-type", h.compressionType() == Header.COMPRESSION_ZSTD ? "zstd" : "zlib");
            if (h.version() >= 3) {
                data.put("lazy-refcounts", h.has(Feature.LAZY_REFCOUNTS));
            }
            data.put("refcount-bits", (long) h.refcountBits());
            if (h.version() >= 3) {
                data.put("corrupt", h.has(Feature.CORRUPT));
                data.put("extended-l2", h.extendedL2());
            }
            Map<String, Object> journal = journal(img, h);
            if (journal != null) {
                data.put("journal", journal);
            }
            Map<String, Object> fs = new LinkedHashMap<>();
            fs.put("type", "qcow2");
            fs.put("data", data);
            m.put("format-specific", fs);
        }
        return m;
    }

    /**
     * The journal's state, when the image has one (present, valid or dirty). Keys use QEMU's
     * dash style, so human mode prints them as a nested "journal:" block like other
     * format-specific entries.
     */
    static Map<String, Object> journal(Qcow2Image img, Header h) throws IOException {
        JournalStatus j = img.journalStatus();
        boolean present = j.present() || h.extension(HeaderExtension.JOURNAL) != null;
        boolean valid = j.valid() || h.has(Feature.JOURNAL_VALID);
        boolean dirty = j.dirty() || h.has(Feature.JOURNAL_DIRTY);
        if (!present && !valid && !dirty) {
            return null;
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("present", present);
        m.put("valid", valid);
        m.put("dirty", dirty);
        if (j.present()) {
            m.put("offset", j.offset());
            m.put("size", j.size());
            m.put("block-size", (long) j.blockSize());
            m.put("synced-seq", j.syncedSeq());
            m.put("committed-seq", j.committedSeq());
            m.put("used-bytes", j.usedBytes());
            m.put("fill-percent", j.size() > 0 ? Math.round(j.usedBytes() * 1000.0 / j.size()) / 10.0 : 0.0);
        }
        return m;
    }

    /** qemu-img's human layout (block/qapi.c bdrv_image_info_dump). */
    @SuppressWarnings("unchecked")
    static String human(Map<String, Object> m) {
        StringBuilder sb = new StringBuilder();
        long vsize = (Long) m.get("virtual-size");
        sb.append("image: ").append(m.get("filename")).append('\n');
        sb.append("file format: ").append(m.get("format")).append('\n');
        sb.append("virtual size: ").append(Numbers.sizeToStr(vsize)).append(" (").append(vsize).append(" bytes)\n");
        long asize = (Long) m.get("actual-size");
        sb.append("disk size: ").append(asize < 0 ? "unavailable" : Numbers.sizeToStr(asize)).append('\n');
        if (m.containsKey("cluster-size")) {
            sb.append("cluster_size: ").append(m.get("cluster-size")).append('\n');
        }
        if (Boolean.TRUE.equals(m.get("dirty-flag"))) {
            sb.append("cleanly shut down: no\n");
        }
        if (m.containsKey("backing-filename")) {
            String bf = (String) m.get("backing-filename");
            String full = (String) m.get("full-backing-filename");
            sb.append("backing file: ").append(bf);
            if (!bf.equals(full)) {
                sb.append(" (actual path: ").append(full).append(')');
            }
            sb.append('\n');
        }
        if (m.containsKey("backing-filename-format")) {
            sb.append("backing file format: ").append(m.get("backing-filename-format")).append('\n');
        }
        if (m.containsKey("snapshots")) {
            sb.append("Snapshot list:\n");
            sb.append(String.format("%-10s%-17s%8s%20s%13s%11s", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT"));
            sb.append('\n');
            java.time.format.DateTimeFormatter df = java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");
            java.time.ZoneId zone = java.time.ZoneId.systemDefault();
            for (Object o : (List<Object>) m.get("snapshots")) {
                Map<String, Object> s = (Map<String, Object>) o;
                long secs = (Long) s.get("vm-clock-sec");
                long nsec = (Long) s.get("vm-clock-nsec");
                String clock = String.format("%02d:%02d:%02d.%03d", secs / 3600, (secs / 60) % 60, secs % 60, nsec / 1_000_000);
                String date = df.format(java.time.Instant.ofEpochSecond((Long) s.get("date-sec")).atZone(zone));
                String icount = s.containsKey("icount") ? String.valueOf(s.get("icount")) : "";
                sb.append(String.format("%-9s %-16s %8s%20s%13s%11s", s.get("id"), s.get("name"),
                        Numbers.sizeToStr((Long) s.get("vm-state-size")), date, clock, icount)).append('\n');
            }
        }
        Map<String, Object> fs = (Map<String, Object>) m.get("format-specific");
        if (fs != null) {
            sb.append("Format specific information:\n");
            dump(sb, (Map<String, Object>) fs.get("data"), 1);
        }
        return sb.toString();
    }

    /** QEMU's dump_qdict: dashes become spaces, nested dicts indent by four. */
    @SuppressWarnings("unchecked")
    private static void dump(StringBuilder sb, Map<String, Object> d, int indent) {
        for (Map.Entry<String, Object> e : d.entrySet()) {
            sb.append("    ".repeat(indent)).append(e.getKey().replace('-', ' ')).append(':');
            if (e.getValue() instanceof Map) {
                sb.append('\n');
                dump(sb, (Map<String, Object>) e.getValue(), indent + 1);
            } else {
                sb.append(' ').append(e.getValue()).append('\n');
            }
        }
    }
}
