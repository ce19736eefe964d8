package io.qjournal.jmx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent steered by the real jmxterm (and bin/qjournal-jmxterm) as child processes. */
class JmxAgentIT {
    private static final Path ROOT = Path.of(System.getenv().getOrDefault("QJOURNAL_HOME", "..")).toAbsolutePath();
    private static final Path JMXTERM = ROOT.resolve("jmx/target/tools/jmxterm-uber.jar");
    private static final Path WRAPPER = ROOT.resolve("bin/qjournal-jmxterm");
    private static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();

    @TempDir
    Path dir;

    private JmxFixture f;
    private EngineImage vm1;

    record Run(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    @BeforeEach
    void start() throws IOException {
        assertTrue(Files.isRegularFile(JMXTERM), JMXTERM + " missing: the jmx module's package phase copies it");
        f = new JmxFixture(dir).start();
        vm1 = f.open("vm1");
    }

    @AfterEach
    void stop() throws IOException {
        f.close();
    }

    /** jmxterm exactly as an operator scripts it: -n, -v silent, -i script. */
    private Run jmxterm(String user, String password, String... lines) throws Exception {
        Path script = Files.writeString(Files.createTempFile(dir, "script", ".jmx"), String.join("\n", lines) + "\n");
        List<String> cmd = new ArrayList<>(List.of(JAVA, "-jar", JMXTERM.toString(), "-l", f.agent.address(),
                "-n", "-v", "silent", "-e", "-i", script.toString()));
        if (user != null) {
            cmd.addAll(List.of("-u", user, "-p", password));
        }
        return run(cmd, null);
    }

    private Run run(List<String> cmd, Path cwd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        if (cwd != null) {
            pb.directory(cwd.toFile());
        }
        Path out = Files.createTempFile(dir, "out", ".txt");
        Path err = Files.createTempFile(dir, "err", ".txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Process p = pb.start();
        try {
            // A bound against a hung child only; not a timing assertion.
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "jmxterm did not finish: " + cmd);
            return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            p.destroyForcibly();
        }
    }

    private Run admin(String... lines) throws Exception {
        return jmxterm(JmxFixture.ADMIN, JmxFixture.ADMIN_PASSWORD, lines);
    }

    private static List<String> values(Run r) {
        return r.out().lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    }

    @Test
    void readAndSetCommitInterval() throws Exception {
        Run r = admin("bean qjournal:type=Image,name=vm1",
                "get -s CommitIntervalMillis",
                "set CommitIntervalMillis 1234",
                "get -s CommitIntervalMillis",
                "set CommitDataSize 262144",
                "get -s CommitDataSize");
        assertEquals(0, r.exit(), r.toString());
        assertEquals(List.of("5000", "1234", "262144"), values(r), r.toString());
        // The engine itself runs with the new settings, not only the bean.
        assertEquals(1234, vm1.image.journalOptions().commitInterval().toMillis());
        assertEquals(262144, vm1.image.journalOptions().commitDatasize());
    }

    @Test
    void badCommitIntervalIsRefusedWithItsMessage() throws Exception {
        Path script = Files.writeString(dir.resolve("bad.jmx"),
                "bean qjournal:type=Image,name=vm1\nset CommitIntervalMillis 0\n");
        Run r = run(List.of(JAVA, "-jar", JMXTERM.toString(), "-l", f.agent.address(), "-u", JmxFixture.ADMIN,
                "-p", JmxFixture.ADMIN_PASSWORD, "-n", "-e", "-i", script.toString()), null);
        assertNotEquals(0, r.exit(), r.toString());
        assertTrue(r.err().contains("IllegalArgumentException: vm1: commit interval must be at least 1 ms, not 0 ms"),
                r.toString());
        assertEquals(5000, vm1.image.journalOptions().commitInterval().toMillis());
    }

    @Test
    void dirtyFollowsWritesAndForceSync() throws Exception {
        Run synced = admin("bean qjournal:type=Image,name=vm1", "run forceSync", "get -s Dirty",
                "get -s PendingTransactions");
        assertEquals(0, synced.exit(), synced.toString());
        assertEquals(List.of("null", "false", "0"), values(synced), synced.toString());

        vm1.write(3L << 20, new byte[65536]);
        Run dirty = admin("bean qjournal:type=Image,name=vm1", "get -s Dirty", "get -s BytesWritten",
                "run forceSync", "get -s Dirty");
        assertEquals(0, dirty.exit(), dirty.toString());
        assertEquals(List.of("true", "65536", "null", "false"), values(dirty), dirty.toString());
        assertFalse(vm1.image.isDirty());
    }

    @Test
    void openAndCloseAnImageAtRunTime() throws Exception {
        Path vm2 = f.createImage("vm2");
        Run r = admin("bean qjournal:type=Daemon",
                "run openImage vm2 " + vm2,
                "get -s Images",
                "bean qjournal:type=Image,name=vm2",
                "get -s Path VirtualSize JournalEnabled Health",
                "bean qjournal:type=Daemon",
                "run closeImage vm1",
                "get -s Images");
        assertEquals(0, r.exit(), r.toString());
        List<String> v = values(r);
        assertEquals(List.of("null", "vm1,vm2", vm2.toString(), String.valueOf(64L << 20), "true", "OK", "null", "vm2"),
                v.stream().map(s -> s.replaceAll("[\\[\\] ]", "")).toList(), r.toString());
        assertEquals(List.of("vm2"), f.daemon.images());
        assertFalse(ManagementFactory.getPlatformMBeanServer().isRegistered(JmxAgent.imageObjectName("vm1")));
        assertTrue(ManagementFactory.getPlatformMBeanServer().isRegistered(JmxAgent.imageObjectName("vm2")));
    }

    @Test
    void wrongPasswordIsRefused() throws Exception {
        Run r = jmxterm(JmxFixture.ADMIN, "not-the-password", "bean qjournal:type=Daemon", "get -s Version");
        assertNotEquals(0, r.exit(), r.toString());
        assertTrue(r.err().contains("Authentication failed"), r.toString());
        assertFalse(r.out().contains("test"), r.toString());
        Run none = jmxterm(null, null, "bean qjournal:type=Daemon", "get -s Version");
        assertNotEquals(0, none.exit(), none.toString());
        assertFalse(none.out().contains("test"), none.toString());
    }

    @Test
    void readOnlyUserCanWatchButNotSteer() throws Exception {
        Run r = jmxterm(JmxFixture.VIEWER, JmxFixture.VIEWER_PASSWORD, "bean qjournal:type=Image,name=vm1",
                "get -s CommitIntervalMillis", "set CommitIntervalMillis 100");
        assertNotEquals(0, r.exit(), r.toString());
        assertEquals(List.of("5000"), values(r), r.toString());
        assertEquals(5000, vm1.image.journalOptions().commitInterval().toMillis());
    }

    @Test
    void wrapperRunsTheShippedScriptsFromAnyDirectory() throws Exception {
        Path pw = Files.writeString(dir.resolve("admin.pw"), JmxFixture.ADMIN_PASSWORD + "\n");
        Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-------"));
        List<String> base = List.of(WRAPPER.toString(), "--port", String.valueOf(f.port()), "--user", JmxFixture.ADMIN,
                "--password-file", pw.toString());
        Path cwd = Path.of("/");

        Run set = run(concat(base, "set-commit-interval.jmx", "IMAGE=vm1", "MILLIS=2500"), cwd);
        assertEquals(0, set.exit(), set.toString());
        assertTrue(set.out().contains("CommitIntervalMillis = 2500;"), set.toString());
        assertEquals(2500, vm1.image.journalOptions().commitInterval().toMillis());

        vm1.write(5L << 20, new byte[4096]);
        Run state = run(concat(base, "image-state", "IMAGE=vm1"), cwd);
        assertEquals(0, state.exit(), state.toString());
        for (String a : List.of("Path = " + vm1.path() + ";", "Dirty = true;", "Health = OK;", "JournalEnabled = true;",
                "CommitIntervalMillis = 2500;", "BytesWritten = 4096;", "ReplayedAtOpen = false;")) {
            assertTrue(state.out().contains(a), a + " not in\n" + state);
        }
        assertEquals("", state.err(), state.toString());

        Run sync = run(concat(base, "force-sync-all.jmx"), cwd);
        assertEquals(0, sync.exit(), sync.toString());
        assertFalse(vm1.image.isDirty());

        Run daemon = run(concat(base, "daemon-state.jmx"), cwd);
        assertTrue(daemon.out().contains("Version = test;"), daemon.toString());

        // Errors are one line with the bean's message, and a failed command fails the run.
        Run bad = run(concat(base, "set-commit-interval.jmx", "IMAGE=vm1", "MILLIS=-5"), cwd);
        assertEquals(1, bad.exit(), bad.toString());
        assertEquals("qjournal-jmxterm: vm1: commit interval must be at least 1 ms, not -5 ms\n", bad.err(), bad.toString());
        Run missing = run(concat(base, "set-commit-interval.jmx", "IMAGE=vm1"), cwd);
        assertEquals(2, missing.exit(), missing.toString());
        assertTrue(missing.err().contains("needs MILLIS=VALUE"), missing.toString());

        Path wrong = Files.writeString(dir.resolve("wrong.pw"), "nope\n");
        Run denied = run(List.of(WRAPPER.toString(), "--port", String.valueOf(f.port()), "--user", JmxFixture.ADMIN,
                "--password-file", wrong.toString(), "daemon-state"), cwd);
        assertEquals(1, denied.exit(), denied.toString());
        assertEquals("qjournal-jmxterm: Authentication failed! Invalid username or password\n", denied.err(),
                denied.toString());
    }

    @Test
    void aRefusalReachesTheOperatorAsOneLine() throws Exception {
        Path pw = Files.writeString(dir.resolve("admin.pw"), JmxFixture.ADMIN_PASSWORD + "\n");
        Files.setPosixFilePermissions(pw, PosixFilePermissions.fromString("rw-------"));
        Path script = Files.writeString(dir.resolve("flag.jmx"),
                "bean com.sun.management:type=HotSpotDiagnostic\nrun setVMOption PrintConcurrentLocks true\n");
        Run r = run(List.of(WRAPPER.toString(), "--port", String.valueOf(f.port()), "--user", JmxFixture.ADMIN,
                "--password-file", pw.toString(), script.toString()), null);
        assertEquals(1, r.exit(), r.toString());
        assertEquals("qjournal-jmxterm: com.sun.management:type=HotSpotDiagnostic setVMOption is refused:"
                + " it changes the running daemon's JVM flags\n", r.err(), r.toString());
    }

    private static List<String> concat(List<String> a, String... b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(List.of(b));
        return all;
    }
}
