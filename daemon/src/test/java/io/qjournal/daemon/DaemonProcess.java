package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * bin/qjournald as a real child process, exactly as systemd's ExecStart runs it, with its
 * stderr in a log file the test reads. Always {@link #close()} it in a finally (or
 * try-with-resources): that kills it by PID if it still runs.
 */
final class DaemonProcess implements AutoCloseable {
    final Process process;
    final Path log;
    private final int logStart;

    private DaemonProcess(Process process, Path log, int logStart) {
        this.process = process;
        this.log = log;
        this.logStart = logStart;
    }

    static Path home() {
        String h = System.getenv("QJOURNAL_HOME");
        Path p = h != null ? Path.of(h) : Path.of("").toAbsolutePath().getParent();
        if (!Files.isExecutable(p.resolve("bin/qjournald"))) {
            fail("bin/qjournald not found under " + p + " (set QJOURNAL_HOME)");
        }
        return p;
    }

    static Path launcher() {
        return home().resolve("bin/qjournald");
    }

    /** A port free right now on 127.0.0.1 (the daemon binds it soon after). */
    static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Starts bin/qjournald ARGS; its stdout and stderr are appended to {@code log}. */
    static DaemonProcess start(Path log, Map<String, String> env, List<String> args) throws IOException {
        return start(log, env, args, null);
    }

    /** With a shell prefix (e.g. "ulimit -f 100;") run through bash before exec'ing the launcher. */
    static DaemonProcess start(Path log, Map<String, String> env, List<String> args, String shellPrefix)
            throws IOException {
        List<String> cmd = new ArrayList<>();
        if (shellPrefix == null) {
            cmd.add(launcher().toString());
            cmd.addAll(args);
        } else {
            StringBuilder b = new StringBuilder(shellPrefix).append(" exec ").append(quote(launcher().toString()));
            for (String a : args) {
                b.append(' ').append(quote(a));
            }
            cmd.addAll(List.of("bash", "-c", b.toString()));
        }
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().remove("NOTIFY_SOCKET");
        pb.environment().remove("JOURNAL_STREAM");
        pb.environment().putIfAbsent("JAVA_OPTS", "-Xmx256m -XX:TieredStopAtLevel=1");
        pb.environment().putAll(env);
        if (!Files.exists(log)) {
            Files.createFile(log);
        }
        int start = Files.readString(log, StandardCharsets.UTF_8).length();
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        return new DaemonProcess(pb.start(), log, start);
    }

    private static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    long pid() {
        return process.pid();
    }

    /** This run's part of the log. */
    String output() {
        try {
            String all = Files.readString(log, StandardCharsets.UTF_8);
            return all.substring(Math.min(logStart, all.length()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Waits until this run's log holds {@code text}; fails if the daemon exits first. */
    void awaitLog(String text, long timeoutSeconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        while (System.nanoTime() < deadline) {
            if (output().contains(text)) {
                return;
            }
            if (!process.isAlive()) {
                if (output().contains(text)) {
                    return;
                }
                fail("qjournald exited with status " + process.exitValue() + " before logging '" + text
                        + "':\n" + output());
            }
            Thread.sleep(50);
        }
        fail("qjournald did not log '" + text + "' within " + timeoutSeconds + " s:\n" + output());
    }

    void awaitReady() throws InterruptedException {
        awaitLog("qjournald: ready:", 60);
    }

    /** SIGTERM, as systemd stops the unit (Process.destroy sends SIGTERM on Linux). */
    void sigterm() {
        process.destroy();
    }

    /** SIGKILL (Process.destroyForcibly on Linux), then waits for the process to be gone. */
    void sigkill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** Exit status, failing if it does not exit in time. */
    int awaitExit(long timeoutSeconds) throws InterruptedException {
        if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            fail("qjournald did not exit within " + timeoutSeconds + " s:\n" + output());
        }
        return process.exitValue();
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
