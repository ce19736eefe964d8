package io.qjournal.qcow2.model;

import io.qjournal.qcow2.interop.Qemu;
import io.qjournal.qcow2.model.ModelRunner.Config;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The file variants of the model test, followed by qemu-img check: the random history must
 * leave no corruption and no leaked clusters. (Replace with ImageChecker once it is merged.)
 */
class ModelQemuCheckIT {
    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Qemu.assumeAvailable();
    }

    static Stream<Config> configs() {
        return Stream.of(
                new Config("file v3 4k", true, 4096, 3, false, false, 16, 6L << 20, 2000),
                new Config("file v3 512 refcount_bits=64", true, 512, 3, false, false, 64, 2L << 20, 2000),
                new Config("file v2 4k", true, 4096, 2, false, false, 16, 6L << 20, 2000),
                new Config("file backing 64k", true, 65536, 3, false, true, 16, 8L << 20, 2000),
                new Config("file extended L2 16k backing", true, 16384, 3, true, true, 16, 20L << 20, 2000),
                new Config("file 4k with journal", true, 4096, 3, false, false, 16, 6L << 20, 2000, true));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void noCorruptionNoLeaks(Config cfg) throws Exception {
        long seed = 4242;
        new ModelRunner(cfg, seed, dir).run();
        try {
            Qemu.checkClean(dir.resolve("model.qcow2"));
        } catch (AssertionError e) {
            throw new AssertionError(cfg.name() + " seed=" + seed + ": " + e.getMessage(), e);
        }
    }
}
