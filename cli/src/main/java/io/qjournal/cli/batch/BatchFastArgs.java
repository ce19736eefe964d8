package io.qjournal.cli.batch;

import io.qjournal.cli.FastArgs;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The picocli-free spelling of `batch start JOB [-p K=V]... [--wait] [-q]`, the command the
 * nightly timer runs. Building picocli's model of the batch commands cost a tenth of a second,
 * a fifth of a small sweep; anything else (help, other subcommands, a malformed option)
 * returns null and picocli parses it, so help texts and error messages stay in one place.
 */
public final class BatchFastArgs {
    private static final String REPO_OPTIONS = "--repository --state-dir --config";

    private BatchFastArgs() {
    }

    /**
     * For `batch start|restart ... --wait`, which run a job in this process: begins the batch
     * runtime's start now, beside the parsing and the repository's opening. Bad arguments
     * still fail as before; the runtime then just dies with the process.
     */
    public static void prestart(List<String> args) {
        if (args.contains("--wait") && (args.contains("start") || args.contains("restart"))) {
            io.qjournal.batch.QBatch.prestart();
        }
    }

    public static Object parse(List<String> args) {
        StartCommand c = new StartCommand();
        c.parent = new BatchCommand();
        c.repo = new BatchCommand.Repo();
        int sub = 0;
        // Repository options may come before the subcommand too; given both before and after it,
        // the later one wins, as with picocli (the subcommand's value is preferred).
        while (sub < args.size() && args.get(sub).startsWith("--")) {
            String a = args.get(sub);
            int eq = a.indexOf('=');
            String name = eq > 0 ? a.substring(0, eq) : a;
            String value;
            if (eq > 0) {
                value = a.substring(eq + 1);
            } else if (sub + 1 < args.size()) {
                value = args.get(++sub);
            } else {
                return null;
            }
            if (!setRepo(c.repo, name, value)) {
                return null;
            }
            sub++;
        }
        if (sub >= args.size() || !args.get(sub).equals("start")) {
            return null;
        }
        List<String> positional = new ArrayList<>();
        boolean ok = FastArgs.walk(args.subList(sub + 1, args.size()), (opt, val) -> {
            switch (opt) {
                case "-p": {
                    int eq = val.indexOf('=');
                    if (eq <= 0) {
                        return false;
                    }
                    c.params.put(val.substring(0, eq), val.substring(eq + 1));
                    return true;
                }
                case "--wait": c.wait = true; return true;
                case "-q": c.quiet = true; return true;
                default: return setRepo(c.repo, opt, val);
            }
        }, "-p " + REPO_OPTIONS, positional::add);
        if (!ok || positional.size() != 1) {
            return null;
        }
        c.job = positional.get(0);
        return c;
    }

    private static boolean setRepo(BatchCommand.Repo repo, String name, String value) {
        switch (name) {
            case "--repository": repo.repository = value; return true;
            case "--state-dir": repo.stateDir = Path.of(value); return true;
            case "--config": repo.config = Path.of(value); return true;
            default: return false;
        }
    }
}
