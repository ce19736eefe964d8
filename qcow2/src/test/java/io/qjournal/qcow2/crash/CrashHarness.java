package io.qjournal.qcow2.crash;

import io.qjournal.qcow2.BlockDevice;
import io.qjournal.qcow2.BlockStatus;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.storage.MemoryStorage;
import io.qjournal.qcow2.storage.Storage;
import io.qjournal.qcow2.testsupport.CrashState;
import io.qjournal.qcow2.testsupport.PowerLossStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * Runs one workload on a {@link PowerLossStorage} with the journal on, then materialises crash
 * states (every flush boundary plus random points between them) and checks each: replay by a
 * read-write open and close, our checker clean, a sample through {@code qemu-img check}, and
 * every guest byte explained by the {@link GuestModel}.
 *
 * <p>Reproduce one state with {@code -Dqjournal.crash.seed=S -Dqjournal.crash.only=NAME:POINT:VARIANT}
 * (add {@code -Dqjournal.crash.dump=DIR} to get its crashed and replayed images as files).
 */
final class CrashHarness {
    /**
     * True since the engine honours {@code OpenOptions.journal(...)}: the suite fails when a
     * workload runs without a live journal. When false, a workload that finds no
     * journal still runs (shaking out the harness on the journal-less engine) but leaks and
     * corruptions after a crash are only counted, since flush ordering alone may leave them.
     */
    static final boolean REQUIRE_JOURNAL = true;

    static final long BASE_SEED = Long.getLong("qjournal.crash.seed", 20261125L);
    static final String ONLY = System.getProperty("qjournal.crash.only");
    /** With ONLY: a directory to write the crashed and the replayed image of that state to. */
    static final String DUMP = System.getProperty("qjournal.crash.dump");
    /** Every n-th state also goes through qemu-img check, at most QEMU_PER_WORKLOAD times. */
    static final int QEMU_EVERY = 200;
    static final int QEMU_PER_WORKLOAD = 7; // 7 workloads: at most 49 qemu-img runs per suite run
    /** Prefix of problems found by the guest data check (as opposed to image consistency). */
    static final String DATA = "guest data: ";
    private static final int MAX_REPORTED = Integer.getInteger("qjournal.crash.maxReported", 5);

    interface Body {
        void run(GuestDriver d, Random rnd) throws IOException;
    }

    /**
     * A workload: its base image, journal settings, guest window, state budget, and the backing
     * file contents (null: none) every open of the image gets.
     */
    record Workload(String name, byte[] base, JournalOptions journal, int window, int targetStates, Body body,
            byte[] backing) {
        Workload(String name, byte[] base, JournalOptions journal, int window, int targetStates, Body body) {
            this(name, base, journal, window, targetStates, body, null);
        }

        BlockDevice backingDevice() {
            return backing == null ? null : new BytesDevice(name + "-backing.raw", backing);
        }
    }

    /** A raw backing file held in memory. */
    static final class BytesDevice implements BlockDevice {
        private final String name;
        private final byte[] data;

        BytesDevice(String name, byte[] data) {
            this.name = name;
            this.data = data;
        }

        @Override
        public long size() {
            return data.length;
        }

        @Override
        public void read(long offset, byte[] buf, int off, int len) {
            Arrays.fill(buf, off, off + len, (byte) 0);
            if (offset < data.length) {
                System.arraycopy(data, (int) offset, buf, off, (int) Math.min(len, data.length - offset));
            }
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public void close() {
        }
    }

    /** What one workload's crash states showed. */
    static final class Report {
        String workload;
        long seed;
        int ops;
        int flushBoundaries;
        int states;
        int qemuChecks;
        boolean journalActive;
        long leakyStates;
        long corruptStates;
        int failures;
        /** Failures of the guest data check alone. */
        int dataFailures;
        /** Storage ops of the open (journal creation) and where close (journal removal) began. */
        int openEnd;
        int closeStart;
        final Map<String, Integer> failuresByPhase = new TreeMap<>();

        String phase(int point) {
            return point <= openEnd ? "open" : point > closeStart ? "close" : "workload";
        }
        final List<String> firstFailures = new ArrayList<>();

        String summary() {
            return String.format("crash workload %-22s seed %d: %d crash states checked (%d storage ops, %d flush"
                    + " boundaries, %d qemu-img checks), journal %s, states with leaks %d, with corruptions %d,"
                    + " failures %d (guest data %d) %s", workload, seed, states, ops, flushBoundaries, qemuChecks,
                    journalActive ? "on" : "NOT ACTIVE (engine ignored the option)", leakyStates, corruptStates,
                    failures, dataFailures, failuresByPhase.isEmpty() ? "" : "by phase " + failuresByPhase);
        }
    }

    private CrashHarness() {
    }

    static long seedOf(String workload) {
        return BASE_SEED * 1_000_003L + workload.hashCode();
    }

    static Report run(Workload w, Path tmp, boolean qemu) throws IOException {
        return run(w, tmp, qemu, false);
    }

    /**
     * @param lyingFlush harness self-test only: the engine's flushes never reach the recording
     *     storage, so acknowledged data is not durable and the checks must catch it
     */
    static Report run(Workload w, Path tmp, boolean qemu, boolean lyingFlush) throws IOException {
        Report rep = new Report();
        rep.workload = w.name();
        rep.seed = seedOf(w.name());
        PowerLossStorage pls = new PowerLossStorage(w.name() + ".qcow2", w.base());
        GuestModel model;
        MemoryStorage baseStore = new MemoryStorage(w.name(), w.base());
        try (Qcow2Image ro = Qcow2Image.open(baseStore, OpenOptions.readOnly(), w.backingDevice())) {
            byte[] initial = new byte[w.window()];
            ro.read(0, initial, 0, (int) Math.min(initial.length, ro.size()));
            model = new GuestModel(initial, ro.size());
        }
        Storage engineSide = lyingFlush ? new FlushDropping(pls) : pls;
        Qcow2Image img = Qcow2Image.open(engineSide, OpenOptions.readWrite().journal(w.journal()), w.backingDevice());
        rep.openEnd = pls.opCount();
        GuestDriver d = new GuestDriver(img, pls, model);
        w.body().run(d, new Random(rep.seed));
        d.flush();
        // The engine creates the journal at the first write (crash points inside that count too).
        rep.journalActive = img.journalStatus().present();
        rep.closeStart = pls.opCount();
        d.close();
        rep.ops = pls.opCount();
        rep.flushBoundaries = pls.flushBoundaries().size();
        if (REQUIRE_JOURNAL && !rep.journalActive) {
            rep.failures++;
            rep.firstFailures.add(w.name() + ": the engine opened the image without a live journal");
            return rep;
        }
        boolean expectClean = rep.journalActive;
        TreeMap<Integer, Integer> variants = choosePoints(pls, w.targetStates(), new Random(rep.seed ^ 0xC0FFEE));
        for (var e : variants.entrySet()) {
            int point = e.getKey();
            for (int v = 0; v < e.getValue(); v++) {
                String id = w.name() + ":" + point + ":" + v;
                if (ONLY != null && !ONLY.equals(id)) {
                    continue;
                }
                CrashState cs = pls.crashState(point, new Random(rep.seed * 31 + point * 1_000_003L + v));
                boolean useQemu = qemu && rep.states % QEMU_EVERY == 0 && rep.qemuChecks < QEMU_PER_WORKLOAD;
                String problem;
                try {
                    problem = verify(w, cs, model, expectClean, rep, useQemu ? tmp : null);
                } catch (IOException | RuntimeException ex) {
                    problem = "unexpected " + ex;
                }
                if (useQemu) {
                    rep.qemuChecks++;
                }
                rep.states++;
                if (problem != null) {
                    rep.failures++;
                    if (problem.startsWith(DATA)) {
                        rep.dataFailures++;
                    }
                    String phase = rep.phase(point);
                    boolean firstOfPhase = rep.failuresByPhase.merge(phase, 1, Integer::sum) == 1;
                    if (rep.firstFailures.size() < MAX_REPORTED || firstOfPhase) {
                        rep.firstFailures.add("workload " + w.name() + " seed " + rep.seed + " state " + id
                                + " [during " + phase + ": ops 0.." + rep.openEnd + " open, " + rep.closeStart
                                + ".." + rep.ops + " close, " + model.opAt(point) + "] ("
                                + cs + "): " + problem + "\n    rerun: -Dqjournal.crash.seed=" + BASE_SEED
                                + " -Dqjournal.crash.only=" + id);
                    }
                }
            }
        }
        return rep;
    }

    /** Every flush boundary (subsampled if too many), the start and the end, then random points. */
    private static TreeMap<Integer, Integer> choosePoints(PowerLossStorage pls, int target, Random rnd) {
        TreeMap<Integer, Integer> m = new TreeMap<>();
        List<Integer> b = pls.flushBoundaries();
        int wantBoundaries = Math.min(b.size(), target / 3);
        for (int i = 0; i < wantBoundaries; i++) {
            m.merge(b.get((int) ((long) i * b.size() / wantBoundaries)), 1, Integer::sum);
        }
        m.merge(0, 1, Integer::sum);
        m.merge(pls.opCount(), 1, Integer::sum);
        int have = m.values().stream().mapToInt(Integer::intValue).sum();
        for (int i = have; i < target; i++) {
            m.merge(rnd.nextInt(pls.opCount() + 1), 1, Integer::sum);
        }
        return m;
    }

    /** Null when the crash state passes every check, else the first problem. */
    private static String verify(Workload w, CrashState cs, GuestModel model, boolean expectClean, Report rep,
            Path qemuDir) throws IOException {
        String name = w.name() + "@" + cs.crashPoint();
        GuestModel.View view = model.at(cs.crashPoint());
        dump(w, cs, "crashed", cs.image());
        // A read-only open replays in memory: same guest view, file untouched.
        MemoryStorage roStore = new MemoryStorage(name, cs.image());
        try (Qcow2Image ro = Qcow2Image.open(roStore, OpenOptions.readOnly(), w.backingDevice())) {
            String s = checkGuest(ro, view, model.window());
            if (s != null) {
                return DATA + "read-only open of the crashed image (in-memory replay): " + s;
            }
        } catch (IOException | RuntimeException e) {
            return "read-only open of the crashed image failed: " + e;
        }
        if (!Arrays.equals(roStore.toByteArray(), cs.image())) {
            return "a read-only open modified the image";
        }
        MemoryStorage ms = new MemoryStorage(name, cs.image());
        try (Qcow2Image img = Qcow2Image.open(ms, OpenOptions.readWrite().journal(w.journal()), w.backingDevice())) {
            // Replayed, then the journal comes back with the first write (the engine creates
            // it lazily); a write also exercises the replayed metadata once more.
            if (expectClean && !img.journalEnabled()) {
                return "the image reopened without its journal after replay";
            }
        } catch (IOException | RuntimeException e) {
            return "open for replay (read-write) failed: " + e;
        }
        try (Qcow2Image img = Qcow2Image.open(new MemoryStorage(name, ms.toByteArray()),
                OpenOptions.readWrite().journal(w.journal()), w.backingDevice())) {
            byte[] probe = new byte[512];
            img.read(0, probe, 0, probe.length);
            img.write(0, probe, 0, probe.length);
            img.flush();
            if (expectClean && !img.journalStatus().present()) {
                return "no live journal after the first write following replay";
            }
        } catch (IOException | RuntimeException e) {
            return "open for replay (read-write) failed: " + e;
        }
        byte[] after = ms.toByteArray();
        dump(w, cs, "replayed", after);
        MemoryStorage replayed = new MemoryStorage(name, after);
        Header h = CrashImages.header(replayed);
        if (expectClean && CrashImages.journalDirty(h)) {
            return "the journal dirty bit is still set after replay and close";
        }
        CheckResult r = ImageChecker.check(replayed, RepairMode.NONE, CrashImages.extraRanges(h));
        if (r.leaks() > 0) {
            rep.leakyStates++;
        }
        if (r.corruptions() > 0) {
            rep.corruptStates++;
        }
        // qemu-img runs on sampled states whatever our checker said, so the two cross-check.
        String q = qemuDir == null ? null
                : CrashImages.qemuCheck(after, w.backing(), qemuDir, w.name() + "-" + cs.crashPoint(), !expectClean);
        if (r.checkErrors() > 0 || (expectClean && !r.isClean())) {
            return "ImageChecker after replay: " + r.checkErrors() + " check errors, " + r.corruptions()
                    + " corruptions, " + r.leaks() + " leaks; " + firstMessages(r.messages())
                    + (qemuDir == null ? "" : q == null ? " (qemu-img check: clean!)" : " (" + q + ")");
        }
        if (q != null) {
            return q + " (our checker: clean)";
        }
        try (Qcow2Image ro = Qcow2Image.open(replayed, OpenOptions.readOnly(), w.backingDevice())) {
            String s = checkGuest(ro, view, model.window());
            return s == null ? null : DATA + "after replay: " + s;
        }
    }

    private static void dump(Workload w, CrashState cs, String what, byte[] image) throws IOException {
        if (DUMP != null && ONLY != null) {
            Path dir = Path.of(DUMP);
            java.nio.file.Files.createDirectories(dir);
            java.nio.file.Files.write(dir.resolve(w.name() + "-" + cs.crashPoint() + "." + what + ".qcow2"), image);
        }
    }

    /** Null when size and every guest byte are what the model allows, else the problem. */
    private static String checkGuest(Qcow2Image img, GuestModel.View view, int window) throws IOException {
        String s = view.checkSize(img.size());
        if (s != null) {
            return s;
        }
        int len = (int) Math.min(window, img.size());
        byte[] buf = new byte[len];
        img.read(0, buf, 0, len);
        s = view.check(buf, len);
        if (s != null) {
            return s;
        }
        for (long off = len; off < img.size();) {
            BlockStatus st = img.blockStatus(off, img.size() - off);
            if (st.allocated()) {
                return "guest range " + st.offset() + "+" + st.length()
                        + " outside the workload's window is allocated: " + st;
            }
            off += Math.max(1, st.length());
        }
        return null;
    }

    /** Forwards everything but flushes (a disk with a lying write cache). */
    private static final class FlushDropping extends io.qjournal.qcow2.storage.ForwardingStorage {
        FlushDropping(Storage inner) {
            super(inner);
        }

        @Override
        public void flush() {
        }

        @Override
        public boolean isReadOnly() {
            return false;
        }

        @Override
        public void close() {
        }
    }

    private static String firstMessages(List<String> messages) {
        return String.join(" | ", messages.subList(0, Math.min(4, messages.size())));
    }
}
