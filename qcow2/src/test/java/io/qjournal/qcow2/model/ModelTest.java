package io.qjournal.qcow2.model;

import io.qjournal.qcow2.model.ModelRunner.Config;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Thousands of random writes, zeroes, discards and reads (with flushes and close/reopen)
 * checked against a byte-array model of the guest disk, over memory and over a file.
 */
class ModelTest {
    static final long[] SEEDS = {1L, 20_260_125L, 0xC0FFEEL};

    @TempDir
    Path dir;

    static List<Config> configs() {
        List<Config> l = new ArrayList<>();
        l.add(new Config("memory v3 64k", false, 65536, 3, false, false, 16, 8L << 20, 3000));
        l.add(new Config("memory v3 4k", false, 4096, 3, false, false, 16, 6L << 20, 3000));
        l.add(new Config("memory v3 512 refcount_bits=1", false, 512, 3, false, false, 1, 2L << 20, 3000));
        l.add(new Config("memory v3 512 refcount_bits=64", false, 512, 3, false, false, 64, 2L << 20, 3000));
        l.add(new Config("memory v2 4k", false, 4096, 2, false, false, 16, 6L << 20, 3000));
        l.add(new Config("memory extended L2 16k", false, 16384, 3, true, false, 16, 20L << 20, 3000));
        l.add(new Config("memory backing 4k", false, 4096, 3, false, true, 16, 6L << 20, 3000));
        l.add(new Config("memory backing extended L2 32k", false, 32768, 3, true, true, 16, 8L << 20, 3000));
        l.add(new Config("file v3 4k", true, 4096, 3, false, false, 16, 6L << 20, 2000));
        l.add(new Config("file backing 64k", true, 65536, 3, false, true, 16, 8L << 20, 2000));
        l.add(new Config("file extended L2 64k", true, 65536, 3, true, false, 16, 8L << 20, 2000));
        l.add(new Config("memory 4k with journal", false, 4096, 3, false, false, 16, 6L << 20, 3000, true));
        l.add(new Config("memory 512 tiny caches", false, 512, 3, false, false, 16, 2L << 20, 3000, false, true));
        l.add(new Config("memory 512 refcount_bits=1 tiny caches", false, 512, 3, false, false, 1, 2L << 20, 3000,
                false, true));
        l.add(new Config("memory v2 backing 4k", false, 4096, 2, false, true, 16, 6L << 20, 3000));
        l.add(new Config("memory extended L2 16k tiny caches", false, 16384, 3, true, false, 16, 40L << 20, 2000,
                false, true));
        l.add(new Config("memory backing 4k tiny caches", false, 4096, 3, false, true, 16, 12L << 20, 3000, false, true));
        l.add(new Config("file 4k tiny caches with journal", true, 4096, 3, false, false, 16, 12L << 20, 2000, true, true));
        l.add(new Config("file backing 4k with journal", true, 4096, 3, false, true, 16, 6L << 20, 2000, true));
        return l;
    }

    static Stream<Arguments> runs() {
        List<Arguments> l = new ArrayList<>();
        for (Config c : configs()) {
            for (long s : SEEDS) {
                l.add(Arguments.of(c, s));
            }
        }
        return l.stream();
    }

    @ParameterizedTest(name = "{0} seed={1}")
    @MethodSource("runs")
    void engineMatchesModel(Config cfg, long seed) throws Throwable {
        new ModelRunner(cfg, seed, dir).run();
    }
}
