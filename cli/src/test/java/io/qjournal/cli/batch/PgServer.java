package io.qjournal.cli.batch;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * A throw-away PostgreSQL server (initdb + pg_ctl) on 127.0.0.1 and a free port. PostgreSQL
 * refuses to run as root, so as root it runs as the postgres user in a directory it owns.
 */
final class PgServer implements AutoCloseable {
    final Path dir;
    final int port;
    private final Path bin;

    private PgServer(Path dir, int port, Path bin) {
        this.dir = dir;
        this.port = port;
        this.bin = bin;
    }

    String url() {
        return "jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres";
    }

    static Path findBin() throws IOException {
        Path base = Path.of("/usr/lib/postgresql");
        if (Files.isDirectory(base)) {
            try (Stream<Path> s = Files.list(base)) {
                return s.map(v -> v.resolve("bin")).filter(b -> Files.isExecutable(b.resolve("initdb")))
                        .max(Comparator.comparing(b -> versionOf(b.getParent().getFileName().toString())))
                        .orElse(null);
            }
        }
        return null;
    }

    private static int versionOf(String s) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** Skips (or, with QJOURNAL_REQUIRE_QEMU=1 as in CI, fails) when PostgreSQL is not installed. */
    static PgServer start() throws Exception {
        Path bin = findBin();
        if (bin == null) {
            String msg = "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) not installed";
            if (QemuTools.required()) {
                Assertions.fail(msg + " (QJOURNAL_REQUIRE_QEMU=1)");
            }
            Assumptions.assumeTrue(false, msg + "; test skipped");
        }
        boolean root = "root".equals(System.getProperty("user.name"));
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "qjournal-pg-");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        PgServer pg = new PgServer(dir, port, bin);
        if (root) {
            BatchTools.tool("chown", "postgres:postgres", dir.toString());
        }
        pg.run("initdb", "-D", dir.resolve("data").toString(), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                "--no-sync");
        pg.run("pg_ctl", "-D", dir.resolve("data").toString(), "-l", dir.resolve("log").toString(), "-w", "-o",
                "-p " + port + " -k " + dir + " -c listen_addresses=127.0.0.1 -c fsync=off", "start");
        return pg;
    }

    private void run(String tool, String... args) {
        List<String> cmd = new ArrayList<>();
        if ("root".equals(System.getProperty("user.name"))) {
            cmd.addAll(List.of("runuser", "-u", "postgres", "--"));
        }
        cmd.add(bin.resolve(tool).toString());
        cmd.addAll(List.of(args));
        QemuTools.Result r = QemuTools.run(dir, cmd.toArray(new String[0]));
        if (r.exitCode() != 0) {
            String log = "";
            try {
                log = Files.exists(dir.resolve("log")) ? Files.readString(dir.resolve("log")) : "";
            } catch (IOException e) {
                log = e.toString();
            }
            throw new AssertionError(String.join(" ", cmd) + " failed: " + r.stdout() + r.stderr() + log);
        }
    }

    @Override
    public void close() throws IOException {
        try {
            run("pg_ctl", "-D", dir.resolve("data").toString(), "-m", "immediate", "-w", "stop");
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
