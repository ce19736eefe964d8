package io.qjournal.cli.batch;

import io.qjournal.batch.BatchSettings;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * `start`/`restart` without --wait: the job must run in a JVM that stays up until it ends, so
 * it runs in a detached child (`... --wait -q`, its own session) whose output goes to
 * STATE/logs; this process returns once the child has printed its execution id.
 */
final class Background {
    private static final Pattern EXECUTION = Pattern.compile("(?m)^execution (\\d+)$");

    private Background() {
    }

    static int launch(BatchCommand parent, BatchCommand.Repo repo, String job, Map<String, String> params)
            throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("start", job));
        params.forEach((k, v) -> {
            args.add("-p");
            args.add(k + "=" + v);
        });
        return run(parent, repo, args, "start-" + job);
    }

    static int run(BatchCommand parent, BatchCommand.Repo repo, List<String> sub, String tag)
            throws IOException, InterruptedException {
        BatchSettings s = parent.settings(repo);
        Path logs = s.stateDir().resolve("logs");
        try {
            Files.createDirectories(logs);
        } catch (IOException e) {
            throw new IllegalArgumentException(s.stateDir() + ": cannot create the batch state directory ("
                    + e.getMessage() + "); choose another with --state-dir or QJOURNAL_BATCH_STATE");
        }
        Path log = logs.resolve(tag + "-" + System.currentTimeMillis() + "-" + ProcessHandle.current().pid() + ".log");
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
            cmd.add("/usr/bin/setsid");
        }
        cmd.add(ProcessHandle.current().info().command().orElse(
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add("io.qjournal.cli.Main");
        cmd.add("batch");
        cmd.addAll(sub);
        cmd.add("--wait");
        cmd.add("-q");
        cmd.add("--state-dir=" + s.stateDir());
        cmd.add("--repository=" + s.repositoryUrl());
        if (repo.config != null || parent.config != null) {
            cmd.add("--config=" + (repo.config != null ? repo.config : parent.config));
        }
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        Process p = pb.start();
        while (true) {
            String out = Files.readString(log, StandardCharsets.UTF_8);
            Matcher m = EXECUTION.matcher(out);
            if (m.find()) {
                System.out.println("execution " + m.group(1));
                System.out.println("running in the background; output in " + log);
                return 0;
            }
            if (!p.isAlive()) {
                System.out.flush();
                System.err.print(out);
                return p.exitValue() == 0 ? 1 : p.exitValue();
            }
            Thread.sleep(100);
        }
    }
}
