package io.qjournal.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.jboss.weld.environment.se.WeldContainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The build puts Weld's client proxies on the class path (WeldProxies), and a container of the
 * batch runtime's configuration then generates none: it would write any it generated to the
 * dump directory.
 */
class WeldProxiesTest {
    @TempDir
    Path dump;

    @Test
    void theBatchContainerFindsItsProxiesOnTheClassPath() throws IOException {
        for (String p : List.of("enterprise/event/Event$WeldEvent$Proxy$_$$_Weld$Proxy$.class",
                "enterprise/inject/Instance$Provider$WeldInstance$Proxy$_$$_Weld$Proxy$.class")) {
            assertNotNull(getClass().getClassLoader().getResource(WeldProxies.PACKAGE.replace('.', '/') + "/" + p),
                    p + " was not installed by the build");
        }
        String before = System.getProperty(WeldProxies.DUMP_PROPERTY);
        System.setProperty(WeldProxies.DUMP_PROPERTY, dump.toString());
        WeldContainer c;
        try {
            c = CdiBoot.configured("weld-proxies-test").initialize();
        } finally {
            if (before == null) {
                System.clearProperty(WeldProxies.DUMP_PROPERTY);
            } else {
                System.setProperty(WeldProxies.DUMP_PROPERTY, before);
            }
        }
        c.shutdown();
        try (Stream<Path> generated = Files.list(dump)) {
            assertEquals(List.of(), generated.toList(), "proxy classes Weld had to generate");
        }
    }

    @Test
    void installPutsDumpedClassesUnderTheirPackages() throws IOException {
        Path in = Files.createDirectories(dump.resolve("in"));
        Files.write(in.resolve(WeldProxies.PACKAGE + ".x.Y$Proxy$.class"), new byte[] {1, 2});
        Path out = dump.resolve("out");
        assertEquals(1, WeldProxies.install(in, out).size());
        assertEquals(2, Files.size(out.resolve(WeldProxies.PACKAGE.replace('.', '/') + "/x/Y$Proxy$.class")));
    }
}
