package io.qjournal.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The engine asks the open's path policy about the image and every backing file, by real path. */
class PathPolicyTest {
    @TempDir
    Path dir;

    private record Asked(Path realPath, PathPolicy.Role role, Path referrer) {
    }

    /** base.raw (0x5a) <- mid.qcow2 <- top.qcow2, with mid reached through a symlink. */
    private Path chain() throws IOException {
        byte[] raw = new byte[1 << 16];
        Arrays.fill(raw, (byte) 0x5a);
        Files.write(dir.resolve("base.raw"), raw);
        Qcow2Image.create(dir.resolve("mid.qcow2"), new CreateOptions().size(1 << 16).backingFile("base.raw")
                .backingFormat("raw"));
        Files.createSymbolicLink(dir.resolve("mid-link"), dir.resolve("mid.qcow2"));
        Path top = dir.resolve("top.qcow2");
        Qcow2Image.create(top, new CreateOptions().size(1 << 16).backingFile("mid-link").backingFormat("qcow2"));
        return top;
    }

    @Test
    void everyFileOfTheChainIsCheckedByItsRealPath() throws Exception {
        Path top = chain();
        List<Asked> asked = new ArrayList<>();
        PathPolicy record = (real, role, referrer) -> asked.add(new Asked(real, role, referrer));
        try (Qcow2Image img = Qcow2Image.open(top, OpenOptions.readOnly().pathPolicy(record))) {
            byte[] b = new byte[512];
            img.read(0, b, 0, b.length);
            assertEquals(0x5a, b[0], "the chain reads through to the raw base");
        }
        Path real = dir.toRealPath();
        assertEquals(List.of(new Asked(real.resolve("top.qcow2"), PathPolicy.Role.IMAGE, null),
                new Asked(real.resolve("mid.qcow2"), PathPolicy.Role.BACKING_FILE, top),
                new Asked(real.resolve("base.raw"), PathPolicy.Role.BACKING_FILE, dir.resolve("mid-link"))), asked);
    }

    @Test
    void aRefusalAtAnyDepthFailsTheOpen() throws Exception {
        Path top = chain();
        PathPolicy noRaw = (real, role, referrer) -> {
            if (real.getFileName().toString().endsWith(".raw")) {
                throw new IOException(role + " " + real + " refused");
            }
        };
        IOException e = assertThrows(IOException.class,
                () -> Qcow2Image.open(top, OpenOptions.readOnly().pathPolicy(noRaw)).close());
        assertEquals("backing file " + dir.toRealPath().resolve("base.raw") + " refused", e.getMessage());
    }

    @Test
    void withoutAPolicyEveryPathOpensAsBefore() throws Exception {
        Path top = chain();
        try (Qcow2Image img = Qcow2Image.open(top, OpenOptions.readOnly())) {
            byte[] b = new byte[4096];
            img.read(4096, b, 0, b.length);
            byte[] want = new byte[4096];
            Arrays.fill(want, (byte) 0x5a);
            assertArrayEquals(want, b);
        }
    }

    @Test
    void aMissingBackingFileIsNamedNotResolved() throws Exception {
        Path top = dir.resolve("orphan.qcow2");
        Files.write(dir.resolve("gone.raw"), new byte[1 << 16]);
        Qcow2Image.create(top, new CreateOptions().size(1 << 16).backingFile("gone.raw").backingFormat("raw"));
        Files.delete(dir.resolve("gone.raw"));
        IOException e = assertThrows(IOException.class,
                () -> Qcow2Image.open(top, OpenOptions.readOnly().pathPolicy((r, role, f) -> { })).close());
        assertTrue(e.getMessage().contains("Could not open backing file 'gone.raw'"), e.getMessage());
    }
}
