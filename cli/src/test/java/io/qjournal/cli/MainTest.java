package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Bad command lines give one line on stderr and exit status 1, without touching any file. */
class MainTest {
    private String err;
    private int rc;

    private void run(String... args) {
        InProcess r = InProcess.run(args);
        rc = r.rc();
        err = r.err();
    }

    private void assertOneLineError(String contains) {
        assertEquals(1, rc, err);
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.startsWith("qjournal: "), err);
        assertTrue(err.contains(contains), err);
    }

    @Test
    void unknownFlag() {
        run("check", "-x", "/nonexistent");
        assertOneLineError("Unknown option: '-x'");
        run("info", "--bogus", "/nonexistent");
        assertOneLineError("Unknown option");
        run("create", "-Z", "/tmp/x", "1M");
        assertOneLineError("Unknown option");
    }

    @Test
    void unknownCommand() {
        run("frobnicate");
        assertOneLineError("Command not found: frobnicate");
    }

    @Test
    void missingFile() {
        run("info", "/nonexistent/qjournal-test.qcow2");
        assertOneLineError("/nonexistent/qjournal-test.qcow2: No such file or directory");
        run("check", "/nonexistent/qjournal-test.qcow2");
        assertOneLineError("No such file or directory");
    }

    @Test
    void badValues() {
        run("check", "-r", "some", "/nonexistent");
        assertOneLineError("expecting 'leaks' or 'all'");
        run("info", "--output=xml", "/nonexistent");
        assertOneLineError("--output must be used with human or json");
        run("create", "-f", "qcow2", "/tmp/qjournal-never-created.qcow2", "12Q");
        assertOneLineError("Invalid image size specified");
        run("create", "-f", "vmdk", "/tmp/qjournal-never-created.vmdk", "1M");
        assertOneLineError("Unknown file format 'vmdk'");
        run("bench", "-c", "0", "/nonexistent");
        assertOneLineError("Invalid request count");
        run("bench", "--flush-interval=10", "/nonexistent");
        assertOneLineError("only available in write tests");
    }

    @Test
    void missingArguments() {
        run("check");
        assertOneLineError("Missing required parameter");
        run("convert", "-O", "raw", "only-one");
        assertOneLineError("Missing required parameter");
    }

    @Test
    void versionIsFast() {
        run("--version");
        assertEquals(0, rc);
    }
}
