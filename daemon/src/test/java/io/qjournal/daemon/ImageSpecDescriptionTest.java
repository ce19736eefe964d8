package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code description=TEXT}: what NBD clients are told an export is, never the host path. */
class ImageSpecDescriptionTest {
    @TempDir
    Path dir;

    @Test
    void defaultIsTheExportNameNotThePath() throws Exception {
        ImageSpec s = ImageSpec.parse("vm1=/srv/secret/layout/vm1.qcow2");
        assertNull(s.description());
        assertEquals("vm1", s.exportDescription());
        // --image-dir images too.
        assertEquals("vm2", ImageSpec.of("vm2", Path.of("/srv/x/vm2.qcow2"), false).exportDescription());
    }

    @Test
    void descriptionRunsToTheEndCommasIncluded() throws Exception {
        ImageSpec s = ImageSpec.parse("vm1=/i/vm1.qcow2,readonly=on,description= Web server, rack 4 ");
        assertEquals("Web server, rack 4", s.exportDescription());
        assertTrue(s.readOnly());
        // Options after description= are part of its text, not options.
        ImageSpec t = ImageSpec.parse("vm1=/i/vm1.qcow2,description=a,readonly=on");
        assertEquals("a,readonly=on", t.description());
        assertFalse(t.readOnly());
    }

    @Test
    void badDescriptionsAreRefused() {
        assertTrue(error("a=/i/a.qcow2,description=").contains("description= needs a text"));
        assertTrue(error("a=/i/a.qcow2,description=" + "x".repeat(ImageSpec.MAX_DESCRIPTION_CHARS + 1))
                .contains("longer than"));
        assertTrue(error("a=/i/a.qcow2,description=tab\there").contains("control characters"));
    }

    @Test
    void configFileImageKeepsItsDescriptionWhenThePathIsResolved() throws Exception {
        Path conf = dir.resolve("q.conf");
        Files.writeString(conf, "image = a=a.qcow2,description=Disk A, first floor\njmx = off\n");
        DaemonConfig c = DaemonConfig.parse(new String[] {"--config", conf.toString()}, null);
        ImageSpec a = c.images.get(0);
        assertEquals(dir.toAbsolutePath().resolve("a.qcow2"), a.path());
        assertEquals("Disk A, first floor", a.exportDescription());
    }

    private static String error(String spec) {
        return assertThrows(ConfigException.class, () -> ImageSpec.parse(spec)).getMessage();
    }
}
