package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class OptionStringTest {
    @Test
    void parsesKeyValueLists() {
        Map<String, String> m = OptionString.parse("cluster_size=4k,compat=0.10,lazy_refcounts", null);
        assertEquals(Map.of("cluster_size", "4k", "compat", "0.10", "lazy_refcounts", "on"), m);
    }

    @Test
    void doubledCommaIsLiteral() {
        assertEquals("a,b.img", OptionString.parse("backing_file=a,,b.img", null).get("backing_file"));
    }

    @Test
    void laterKeyWins() {
        assertEquals("8", OptionString.parse("refcount_bits=16,refcount_bits=8", null).get("refcount_bits"));
    }

    @Test
    void rejectsMalformedLists() {
        for (String bad : new String[] {"", ",", "a=1,", "=1", "a=1,,"}) {
            if (bad.equals("a=1,,")) {
                // ",," inside a value is a literal comma, so this is a=“1,”.
                assertEquals("1,", OptionString.parse(bad, null).get("a"));
                continue;
            }
            assertThrows(IllegalArgumentException.class, () -> OptionString.parse(bad, null), bad);
        }
    }

    @Test
    void booleans() {
        assertTrue(OptionString.parseBool("k", "on"));
        assertFalse(OptionString.parseBool("k", "off"));
        assertThrows(IllegalArgumentException.class, () -> OptionString.parseBool("k", "maybe"));
    }

    @Test
    void createOptionsAreValidated() {
        assertThrows(CliException.class, () -> CreateCommand.build("f", Map.of("cluster_size", "3k"), 1 << 20));
        assertThrows(CliException.class, () -> CreateCommand.build("f", Map.of("refcount_bits", "3"), 1 << 20));
        assertThrows(CliException.class, () -> CreateCommand.build("f", Map.of("foo", "bar"), 1 << 20));
        assertThrows(CliException.class, () -> CreateCommand.build("f", Map.of("compat", "0.10", "extended_l2", "on"), 1 << 20));
        assertThrows(CliException.class, () -> CreateCommand.build("f", Map.of("preallocation", "full"), 1 << 20));
        assertThrows(CliException.class, () -> CreateCommand.build("f", Map.of("compression_type", "lz4"), 1 << 20));
        CreateCommand.build("f", Map.of("cluster_size", "2M", "refcount_bits", "64", "compression_type", "zstd"), 1 << 20);
    }

    @Test
    void formattingLineFollowsQemuImgOrder() {
        Map<String, String> o = new java.util.LinkedHashMap<>();
        o.put("cluster_size", "4k");
        o.put("preallocation", "metadata");
        o.put("compat", "1.1");
        o.put("lazy_refcounts", "on");
        o.put("refcount_bits", "8");
        assertEquals("Formatting 'z.qcow2', fmt=qcow2 cluster_size=4096 extended_l2=off preallocation=metadata "
                + "compression_type=zlib size=1048576 compat=1.1 lazy_refcounts=on refcount_bits=8",
                CreateCommand.formattingLine("z.qcow2", o, 1048576));
    }

    @Test
    void journalOptionsAreValidated() {
        assertEquals(8L << 20, IoCommand.parseJournalOptions("size=8M,block-size=4k,commit-interval=5s,commit-datasize=1M").size());
        assertEquals(4096, IoCommand.parseJournalOptions("").blockSize());
        assertThrows(CliException.class, () -> IoCommand.parseJournalOptions("bogus=1"));
        assertThrows(CliException.class, () -> IoCommand.parseJournalOptions("size=lots"));
        assertThrows(CliException.class, () -> IoCommand.parseJournalOptions("commit-interval=soon"));
    }
}
