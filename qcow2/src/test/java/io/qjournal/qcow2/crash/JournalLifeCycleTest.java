package io.qjournal.qcow2.crash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.storage.MemoryStorage;
import io.qjournal.qcow2.testsupport.CrashState;
import io.qjournal.qcow2.testsupport.PowerLossStorage;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The journal's creation (at the first write) and removal (at close) under power loss, every
 * recorded operation of both windows one by one (journal.md 15.2). At each crash point: every
 * write issued landed, and four random states (writes in flight kept or dropped, one torn at a
 * sector). Each state must show, before any repair, no cluster the header names with a
 * refcount of 0 (refcounts durable before the header points at the journal; the header no
 * longer pointing at it before they drop); must open for writing and close clean (our checker
 * and, on a sample, qemu-img check, neither with leaks); must read the acknowledged write; and
 * must leave the feature name table as qemu-img writes it.
 */
class JournalLifeCycleTest {
    private static final int VARIANTS = 4;
    /** qemu-img check runs on at most this many recovered states per cluster size. */
    private static final int QEMU_CHECKS = 24;
    private static final long SEED = Long.getLong("qjournal.crash.seed", 20261125L);

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "cluster size {0}")
    @ValueSource(ints = {65536, 4096, 512})
    void everyStateOfCreationAndRemovalRecoversClean(int clusterSize) throws IOException {
        System.out.println("JournalLifeCycleTest seed " + SEED + " (-Dqjournal.crash.seed)");
        MemoryStorage base = new MemoryStorage("life.qcow2");
        Qcow2Image.create(base, new CreateOptions().size(8 << 20).clusterSize(clusterSize));
        PowerLossStorage pls = new PowerLossStorage("life.qcow2", base.toByteArray());
        byte[] data = new byte[4096];
        Arrays.fill(data, (byte) 0x5a);
        int start;
        int acknowledged;
        try (Qcow2Image img = Qcow2Image.open(pls, OpenOptions.readWrite().journal(JournalOptions.defaults()), null)) {
            start = pls.opCount();
            img.write(0, data, 0, data.length);
            img.flush();
            acknowledged = pls.opCount();
        }
        int end = pls.opCount();

        List<Integer> headerWrites = new ArrayList<>();
        for (int i = start; i < end; i++) {
            if (pls.describe(i).startsWith("write ") && pls.describe(i).endsWith(" at 0")) {
                headerWrites.add(i);
            }
        }
        // Creation: dirty bit set, (with small clusters the refcount table may move and the
        // header name the new one), then the header naming the journal; removal: the header
        // without the journal (dirty), then the dirty bit cleared.
        List<Integer> creation = headerWrites.stream().filter(i -> i < acknowledged).toList();
        List<Integer> removal = headerWrites.stream().filter(i -> i >= acknowledged).toList();
        assertTrue(creation.size() >= 2, "header writes of the creation: " + creation);
        assertEquals(2, removal.size(), "header writes of the removal: " + removal);
        int creationStart = creation.get(0);
        int creationEnd = nextFlush(pls, creation.get(creation.size() - 1), end);
        int removalStart = removal.get(0);

        boolean qemu = CrashImages.qemuUsable("qemu-img check of the recovered states");
        int qemuChecks = 0;
        List<String> failures = new ArrayList<>();
        int states = 0;
        for (int k = start; k <= end; k++) {
            boolean inWindow = (k >= creationStart && k <= creationEnd) || k >= removalStart;
            List<CrashState> variants = new ArrayList<>();
            variants.add(new CrashState(k, pls.durablePrefix(k), pls.allLanded(k), "all landed"));
            // 512-byte clusters: the 8 MiB journal needs hundreds of refcount writes and moves the
            // refcount table; every point with everything landed is enough there.
            for (int v = 0; v < (clusterSize < 4096 ? 0 : VARIANTS); v++) {
                variants.add(pls.crashState(k, new Random(SEED * 31 + k * 1_000_003L + v)));
            }
            for (CrashState cs : variants) {
                states++;
                boolean useQemu = qemu && inWindow && cs.description().equals("all landed") && qemuChecks < QEMU_CHECKS
                        && (k - start) % Math.max(1, (end - start) / QEMU_CHECKS) == 0;
                String problem = verify(cs, inWindow, k >= acknowledged, data, clusterSize, useQemu);
                qemuChecks += useQemu ? 1 : 0;
                if (problem != null && failures.size() < 5) {
                    failures.add("state " + k + " (" + pls.describe(Math.max(start, k - 1)) + "; " + cs.description()
                            + "): " + problem);
                }
            }
        }
        System.out.printf("JournalLifeCycleTest cluster size %d: %d states over ops %d..%d (creation %d..%d,"
                + " removal %d..%d), %d qemu-img checks%n", clusterSize, states, start, end, creationStart,
                creationEnd, removalStart, end, qemuChecks);
        if (!failures.isEmpty()) {
            fail(String.join("\n", failures));
        }
    }

    private String verify(CrashState cs, boolean inWindow, boolean mustHaveData, byte[] data, int clusterSize,
            boolean useQemu) throws IOException {
        MemoryStorage crashed = new MemoryStorage("crashed.qcow2", cs.image());
        Header h = CrashImages.header(crashed);
        if (inWindow) {
            // Before any replay or repair: what the header names is counted on disk.
            CheckResult raw = ImageChecker.check(crashed, RepairMode.NONE, CrashImages.extraRanges(h));
            // QEMU's dirty bit says "refcounts may be wrong, repair before use" (every writable
            // open does, as checked below); without it the image must be consistent as it is.
            if (!h.has(Feature.DIRTY) && (raw.corruptions() > 0 || raw.checkErrors() > 0)) {
                return "as crashed, without the dirty bit, " + raw.corruptions() + " corruptions: " + raw.messages();
            }
            if (raw.leaks() > 0 && !h.has(Feature.DIRTY) && !tornCreation(h)) {
                return "as crashed, " + raw.leaks() + " leaks without the dirty bit";
            }
        }
        MemoryStorage ms = new MemoryStorage("recovered.qcow2", cs.image());
        // Like `qjournal replay`: replays, then removes the journal.
        try (Qcow2Image img = Qcow2Image.open(ms, OpenOptions.readWrite(), null)) {
            byte[] back = new byte[data.length];
            img.read(0, back, 0, back.length);
            boolean zero = Arrays.equals(back, new byte[data.length]);
            if (!Arrays.equals(back, data) && (mustHaveData || !zero)) {
                return "guest data at 0 is neither the acknowledged write nor (before it) zeros";
            }
        } catch (IOException | RuntimeException e) {
            return "writable open failed: " + e;
        }
        Header after = CrashImages.header(ms);
        if (after.has(Feature.DIRTY) || after.has(Feature.JOURNAL_DIRTY) || after.has(Feature.JOURNAL_VALID)
                || after.extension(HeaderExtension.JOURNAL) != null) {
            return "dirty or journal bits left after the writable open";
        }
        HeaderExtension table = after.extension(HeaderExtension.FEATURE_NAME_TABLE);
        int tableBytes = table == null ? 0 : table.data().length;
        if (tableBytes != (clusterSize > 4096 ? 384 : 0)) {
            return "feature name table of " + tableBytes + " bytes (qemu-img writes "
                    + (clusterSize > 4096 ? 384 : 0) + ")";
        }
        CheckResult r = ImageChecker.check(ms, RepairMode.NONE);
        if (!r.isClean()) {
            return "not clean after the writable open: " + r.messages();
        }
        if (useQemu) {
            String q = CrashImages.qemuCheck(ms.toByteArray(), tmp, "recovered-" + cs.crashPoint(), false);
            if (q != null) {
                return q;
            }
            if (h.has(Feature.DIRTY) && !h.has(Feature.JOURNAL_DIRTY)) {
                return qemuRepairsDirty(cs);
            }
        }
        return null;
    }

    /** QEMU's own writable open of a state with only the dirty bit repairs it as ours does. */
    private String qemuRepairsDirty(CrashState cs) throws IOException {
        Path f = tmp.resolve("dirty-" + cs.crashPoint() + ".qcow2");
        Files.write(f, cs.image());
        QemuTools.Result io = QemuTools.qemuIo("-f", "qcow2", "-c", "read 0 4k", f.toString());
        if (io.exitCode() != 0) {
            return "qemu-io could not open the dirty state: " + io.stderr().strip();
        }
        QemuTools.Result check = QemuTools.qemuImg("check", "-f", "qcow2", f.toString());
        Files.delete(f);
        return check.exitCode() == 0 ? null : "qemu-img check after QEMU's open: exit " + check.exitCode()
                + ": " + check.stdout().strip();
    }

    private static boolean tornCreation(Header h) {
        return h.extension(HeaderExtension.JOURNAL) == null
                && (h.has(Feature.JOURNAL_DIRTY) || h.has(Feature.JOURNAL_VALID));
    }

    private static int nextFlush(PowerLossStorage pls, int from, int end) {
        for (int i = from; i < end; i++) {
            if (pls.describe(i).equals("flush")) {
                return i + 1;
            }
        }
        return end;
    }
}
