package io.qjournal.qcow2.testsupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.opentest4j.TestAbortedException;

class QemuToolsTest {
    @Test
    void runCapturesExitCodeAndBothStreams() {
        QemuTools.Result r = QemuTools.run("sh", "-c", "echo out; echo err >&2; exit 3");
        assertEquals(3, r.exitCode());
        assertEquals("out\n", r.stdout());
        assertEquals("err\n", r.stderr());
        assertThrows(AssertionError.class, r::requireSuccess);
    }

    @Test
    void missingToolsSkipUnlessRequired() {
        assertNull(QemuTools.find("qjournal-no-such-tool"));
        if (QemuTools.required()) {
            assertThrows(AssertionError.class, () -> QemuTools.assumeAvailable("qjournal-no-such-tool"));
        } else {
            assertThrows(TestAbortedException.class, () -> QemuTools.assumeAvailable("qjournal-no-such-tool"));
        }
    }

    @Test
    void parsesQemuImgJsonObjects() {
        Map<String, String> m = QemuTools.MiniJson.parseObject("{\n    \"image-end-offset\": 393216,\n"
                + "    \"snapshots\": [{\"id\": \"1\", \"name\": \"a,}\"}],\n    \"filename\": \"a \\\"b\\\".qcow2\",\n"
                + "    \"dirty-flag\": false,\n    \"u\": \"\\u00E9\"\n}");
        assertEquals("393216", m.get("image-end-offset"));
        assertEquals("[{\"id\": \"1\", \"name\": \"a,}\"}]", m.get("snapshots"));
        assertEquals("false", m.get("dirty-flag"));
        QemuTools.JsonResult j = new QemuTools.JsonResult(new QemuTools.Result(0, "", ""), m);
        assertEquals(0, j.number("leaks"), "absent counters are zero");
        assertEquals(393216, j.number("image-end-offset"));
        assertEquals("a \"b\".qcow2", j.string("filename"));
        assertEquals("é", j.string("u"));
    }
}
