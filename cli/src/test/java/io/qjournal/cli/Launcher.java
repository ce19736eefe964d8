package io.qjournal.cli;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Files;
import java.nio.file.Path;

/** Runs bin/qjournal as a child process, as operators do. */
final class Launcher {
    private Launcher() {
    }

    static Path home() {
        String h = System.getenv("QJOURNAL_HOME");
        Path p = h != null ? Path.of(h) : Path.of(System.getProperty("user.dir")).getParent();
        if (!Files.isExecutable(p.resolve("bin/qjournal"))) {
            throw new AssertionError("bin/qjournal not found under " + p + " (set QJOURNAL_HOME)");
        }
        return p;
    }

    static Path path() {
        return home().resolve("bin/qjournal");
    }

    static QemuTools.Result run(Path dir, String... args) {
        String[] cmd = new String[args.length + 1];
        cmd[0] = path().toString();
        System.arraycopy(args, 0, cmd, 1, args.length);
        return QemuTools.run(dir, cmd);
    }

    static QemuTools.Result ok(Path dir, String... args) {
        QemuTools.Result r = run(dir, args);
        if (r.exitCode() != 0) {
            throw new AssertionError("qjournal " + String.join(" ", args) + " failed (" + r.exitCode() + ")\nstdout: "
                    + r.stdout() + "\nstderr: " + r.stderr());
        }
        return r;
    }

    static QemuTools.Result tool(Path dir, String... cmd) {
        QemuTools.Result r = QemuTools.run(dir, cmd);
        if (r.exitCode() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed (" + r.exitCode() + ")\nstdout: "
                    + r.stdout() + "\nstderr: " + r.stderr());
        }
        return r;
    }
}
