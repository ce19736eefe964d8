package io.qjournal.cli.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The picocli-free parse of `batch start`: the spellings it takes, and what it leaves to picocli. */
class BatchFastArgsTest {
    private static StartCommand parse(String... args) {
        return (StartCommand) BatchFastArgs.parse(List.of(args));
    }

    @Test
    void theTimersCommandLine() {
        StartCommand c = parse("--state-dir", "/s", "start", "integrity-sweep", "-p", "dirs=/a:/b", "-pthreads=4",
                "--wait", "-q");
        assertEquals("integrity-sweep", c.job);
        assertEquals(Map.of("dirs", "/a:/b", "threads", "4"), c.params);
        assertTrue(c.wait && c.quiet);
        assertEquals(Path.of("/s"), c.parent.settings(c.repo).stateDir());
    }

    @Test
    void repositoryOptionsAfterTheSubcommandWin() {
        StartCommand c = parse("--repository=jdbc:h2:mem:a", "start", "journal-replay", "--repository", "jdbc:h2:mem:b",
                "--config=/etc/q.conf");
        assertEquals("jdbc:h2:mem:b", c.repo.repository);
        assertEquals(Path.of("/etc/q.conf"), c.repo.config);
        assertEquals("journal-replay", c.job);
    }

    @Test
    void anythingElseGoesToPicocli() {
        assertNull(parse("start", "integrity-sweep", "--help"));
        assertNull(parse("start", "integrity-sweep", "-p", "dirs"));
        assertNull(parse("start"));
        assertNull(parse("start", "a", "b"));
        assertNull(parse("status", "3"));
        assertNull(parse("--bogus", "x", "start", "integrity-sweep"));
        assertNull(parse("--state-dir"));
        assertNull(parse("start", "integrity-sweep", "-p"));
    }
}
