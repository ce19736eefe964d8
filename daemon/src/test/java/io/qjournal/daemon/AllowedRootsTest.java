package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.PathPolicy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AllowedRootsTest {
    @TempDir
    Path dir;

    private DaemonConfig config(String... args) throws ConfigException {
        return DaemonConfig.parse(args, dir.resolve("absent.conf"));
    }

    @Test
    void rootsAreRealDirectoriesOfEveryKind() throws Exception {
        Path images = Files.createDirectory(dir.resolve("images"));
        Path shared = Files.createDirectory(dir.resolve("shared"));
        Path link = Files.createSymbolicLink(dir.resolve("shared-link"), shared);
        Path vmDir = Files.createDirectory(dir.resolve("vms"));
        Path real = Files.createDirectory(dir.resolve("real"));
        Files.createFile(real.resolve("b.qcow2"));
        Files.createSymbolicLink(vmDir.resolve("b.qcow2"), real.resolve("b.qcow2"));
        AllowedRoots r = AllowedRoots.of(config("--jmx", "off", "--image-dir", images.toString(),
                "--allow-dir", link.toString(), "--image", "a=" + vmDir.resolve("a.qcow2"),
                "--image", "b=" + vmDir.resolve("b.qcow2")));
        Path d = dir.toRealPath();
        assertEquals(List.of(d.resolve("images"), d.resolve("shared"), d.resolve("vms"), d.resolve("real")),
                r.roots());
    }

    @Test
    void containmentIsByPathComponent() throws Exception {
        Path root = dir.toRealPath().resolve("images");
        AllowedRoots r = AllowedRoots.of(List.of(root));
        assertTrue(r.allows(root.resolve("a.qcow2")));
        assertTrue(r.allows(root.resolve("sub/a.qcow2")));
        assertFalse(r.allows(root.resolveSibling("images2").resolve("a.qcow2")), "a string prefix is not inside");
        assertFalse(r.allows(root), "the root itself is no image");
        assertFalse(r.allows(Path.of("/etc/passwd")));
    }

    @Test
    void refusalNamesTheFileTheImageAndTheRule() throws Exception {
        AllowedRoots r = AllowedRoots.of(List.of(dir.toRealPath()));
        IOException e = assertThrows(IOException.class, () -> r.check(Path.of("/etc/passwd"),
                PathPolicy.Role.BACKING_FILE, Path.of("/srv/images/evil.qcow2")));
        assertEquals("backing file /etc/passwd (of /srv/images/evil.qcow2) is outside the allowed directories"
                + " (--image-dir, --allow-dir, directories of --image)", e.getMessage());
    }

    @Test
    void aMissingAllowDirIsAConfigError() throws Exception {
        ConfigException e = assertThrows(ConfigException.class,
                () -> AllowedRoots.of(config("--jmx", "off", "--allow-dir", dir.resolve("none").toString())));
        assertEquals("allow-dir " + dir.resolve("none") + ": not a directory", e.getMessage());
    }
}
