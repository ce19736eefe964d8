package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checks --check-config makes (and, for the JMX files, every start before it opens an
 * image): each bad file gives one line naming the file and the problem.
 */
class ConfigCheckTest {
    @TempDir
    Path dir;
    Path image;
    Path password;
    Path access;

    @BeforeEach
    void files() throws Exception {
        // Never opened by the check, so any bytes do.
        image = Files.writeString(dir.resolve("a.qcow2"), "not opened");
        password = Files.writeString(dir.resolve("jmx.password"), "admin secret\n");
        Files.setPosixFilePermissions(password, PosixFilePermissions.fromString("rw-------"));
        access = Files.writeString(dir.resolve("jmx.access"), "admin readwrite\n");
    }

    private List<String> args(String... extra) {
        List<String> a = new ArrayList<>(List.of("--image", "a=" + image, "--jmx", "127.0.0.1:9999",
                "--jmx-password-file", password.toString(), "--jmx-access-file", access.toString()));
        a.addAll(List.of(extra));
        return a;
    }

    private void check(List<String> args) throws ConfigException {
        ConfigCheck.check(DaemonConfig.parse(args.toArray(String[]::new), null));
    }

    private String problem(List<String> args) {
        String m = assertThrows(ConfigException.class, () -> check(args)).getMessage();
        assertTrue(!m.contains("\n"), "one line: " + m);
        return m;
    }

    @Test
    void goodConfigurationPasses() {
        assertDoesNotThrow(() -> check(args()));
        assertDoesNotThrow(() -> {
            Files.setPosixFilePermissions(password, PosixFilePermissions.fromString("r--------"));
            check(args());
        });
    }

    @Test
    void passwordFileReadableByGroupOrOthers() throws Exception {
        for (String mode : List.of("rw-r-----", "rw----r--", "rw--w----")) {
            Files.setPosixFilePermissions(password, PosixFilePermissions.fromString(mode));
            String m = problem(args());
            assertTrue(m.startsWith(password + ": password file must be readable only by its owner (it has mode 0"),
                    m);
        }
    }

    @Test
    void passwordFileOfAnotherUser() throws Exception {
        // Only root can give a file away; elsewhere the rule is still covered by the mode checks.
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "needs root to chown");
        UserPrincipal nobody = dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
        Files.setOwner(password, nobody);
        String m = problem(args());
        assertTrue(m.equals(password + ": password file is owned by nobody, not by root, the user the daemon runs as"),
                m);
    }

    @Test
    void missingFiles() throws Exception {
        Path gone = dir.resolve("gone");
        List<String> a = args();
        a.set(a.indexOf(password.toString()), gone.toString());
        assertTrue(problem(a).equals(gone + ": password file does not exist"), problem(a));
        a = args();
        a.set(a.indexOf(access.toString()), gone.toString());
        assertTrue(problem(a).equals(gone + ": access file does not exist"), problem(a));
        Files.delete(image);
        assertTrue(problem(args()).equals("image 'a' " + image + ": no such file"), problem(args()));
    }

    @Test
    void accessFileWritableByOthers() throws Exception {
        Files.setPosixFilePermissions(access, PosixFilePermissions.fromString("rw-rw-r--"));
        assertTrue(problem(args()).equals(access + ": access file must not be writable by group or others (it has"
                + " mode 0664, rw-rw-r--)"), problem(args()));
    }

    @Test
    void badImageDirectories() throws Exception {
        Path missing = dir.resolve("missing");
        assertTrue(problem(args("--image-dir", missing.toString())).equals("image-dir " + missing
                + ": not a directory"));
        assertTrue(problem(args("--image-dir", image.toString())).contains(image + ": not a directory"));
        // Root reads any directory; for everyone else an unreadable one is reported.
        if (!"root".equals(System.getProperty("user.name"))) {
            Path closed = Files.createDirectory(dir.resolve("closed"));
            Files.setPosixFilePermissions(closed, PosixFilePermissions.fromString("---------"));
            assertTrue(problem(args("--image-dir", closed.toString())).startsWith("image-dir " + closed
                    + ": cannot list"));
        }
    }

    @Test
    void noAuthNeedsNoPasswordFile() {
        assertDoesNotThrow(() -> check(List.of("--image", "a=" + image, "--jmx-no-auth")));
        assertDoesNotThrow(() -> check(List.of("--image", "a=" + image, "--jmx", "off")));
    }

    @Test
    void socketDirectoryMustExist() {
        Path sock = dir.resolve("no/such/dir/nbd.sock");
        assertTrue(problem(args("--nbd-socket", sock.toString())).contains("directory " + sock.getParent()
                + " does not exist"));
    }
}
