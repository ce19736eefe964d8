package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** info and map JSON agree with qemu-img on every key both print. */
class InfoMapIT {
    static final List<String> KINDS = ImageKinds.ALL;
    /** Preallocated clusters are holes in the file, which QEMU reports as zero and Java cannot see. */
    static final List<String> MAP_KINDS = ImageKinds.ALL.stream().filter(k -> !k.equals("prealloc")).toList();

    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        QemuTools.assumeAvailable("qemu-io");
    }

    @ParameterizedTest
    @FieldSource("KINDS")
    void infoJsonAgrees(String kind) {
        String img = ImageKinds.build(dir, kind);
        Object ref = MiniJson.parse(Launcher.tool(dir, "qemu-img", "info", "--output=json", img).stdout());
        Object ours = MiniJson.parse(Launcher.ok(dir, "info", "--output=json", img).stdout());
        List<String> diffs = new ArrayList<>();
        compareShared("", ref, ours, diffs);
        assertTrue(diffs.isEmpty(), kind + ": " + diffs);
        assertEquals(((Map<?, ?>) ref).keySet().size(), countShared((Map<?, ?>) ref, (Map<?, ?>) ours),
                kind + ": keys missing from ours: ref=" + ((Map<?, ?>) ref).keySet() + " ours=" + ((Map<?, ?>) ours).keySet());
    }

    @ParameterizedTest
    @FieldSource("KINDS")
    void infoHumanMatchesExceptDiskSize(String kind) {
        String img = ImageKinds.build(dir, kind);
        String ref = Launcher.tool(dir, "qemu-img", "info", "--backing-chain", img).stdout();
        String ours = Launcher.ok(dir, "info", "--backing-chain", img).stdout();
        assertEquals(ref.replaceAll("disk size: .*", "disk size: X"), ours.replaceAll("disk size: .*", "disk size: X"), kind);
    }

    @Test
    void backingChainJsonAgrees() {
        String img = ImageKinds.build(dir, "backing-chain");
        List<?> ref = (List<?>) MiniJson.parse(Launcher.tool(dir, "qemu-img", "info", "--backing-chain", "--output=json", img).stdout());
        List<?> ours = (List<?>) MiniJson.parse(Launcher.ok(dir, "info", "--backing-chain", "--output=json", img).stdout());
        assertEquals(ref.size(), ours.size());
        List<String> diffs = new ArrayList<>();
        for (int i = 0; i < ref.size(); i++) {
            compareShared("[" + i + "]", ref.get(i), ours.get(i), diffs);
        }
        assertTrue(diffs.isEmpty(), diffs.toString());
    }

    @ParameterizedTest
    @FieldSource("MAP_KINDS")
    void mapJsonAgrees(String kind) {
        String img = ImageKinds.build(dir, kind);
        Object ref = MiniJson.parse(Launcher.tool(dir, "qemu-img", "map", "--output=json", img).stdout());
        Object ours = MiniJson.parse(Launcher.ok(dir, "map", "--output=json", img).stdout());
        assertEquals(ref, ours, kind);
    }

    @ParameterizedTest
    @FieldSource("MAP_KINDS")
    void mapHumanAgrees(String kind) {
        String img = ImageKinds.build(dir, kind);
        QemuTools.Result ref = QemuTools.run(dir, "qemu-img", "map", img);
        QemuTools.Result ours = Launcher.run(dir, "map", img);
        assertEquals(ref.exitCode() == 0, ours.exitCode() == 0, kind + ": " + ref.stderr() + " / " + ours.stderr());
        if (ref.exitCode() == 0) {
            // The File column names the layer; QEMU resolves backing names its own way.
            assertEquals(ref.stdout().replaceAll("(?m)\\S+$", "F"), ours.stdout().replaceAll("(?m)\\S+$", "F"), kind);
        } else {
            assertFalse(ours.stderr().isBlank());
        }
    }

    /** Recursively compares values under keys both sides have; lists must match in length. */
    static void compareShared(String path, Object ref, Object ours, List<String> diffs) {
        if (ref instanceof Map<?, ?> rm && ours instanceof Map<?, ?> om) {
            for (Map.Entry<?, ?> e : rm.entrySet()) {
                if (om.containsKey(e.getKey())) {
                    compareShared(path + "/" + e.getKey(), e.getValue(), om.get(e.getKey()), diffs);
                }
            }
        } else if (ref instanceof List<?> rl && ours instanceof List<?> ol) {
            if (rl.size() != ol.size()) {
                diffs.add(path + ": " + rl.size() + " entries vs " + ol.size());
                return;
            }
            for (int i = 0; i < rl.size(); i++) {
                compareShared(path + "[" + i + "]", rl.get(i), ol.get(i), diffs);
            }
        } else if (!java.util.Objects.equals(ref, ours)) {
            diffs.add(path + ": qemu=" + ref + " ours=" + ours);
        }
    }

    private static int countShared(Map<?, ?> ref, Map<?, ?> ours) {
        int n = 0;
        for (Object k : ref.keySet()) {
            if (ours.containsKey(k)) {
                n++;
            }
        }
        return n;
    }
}
