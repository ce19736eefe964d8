package io.qjournal.cli;

import java.nio.file.Path;
import java.util.List;

/**
 * A picocli-free parser for the commands operators run in loops (check, info, map). Loading and
 * initialising picocli costs more than a small check itself, so the common spellings are parsed
 * here; anything unusual (--help, unknown or malformed options) returns null and picocli takes
 * over, so help texts and error messages stay in one place.
 */
public final class FastArgs {
    private FastArgs() {
    }

    static Object parse(String command, List<String> args) {
        switch (command) {
            case "check": {
                CheckCommand c = new CheckCommand();
                Path[] file = {null};
                boolean ok = walk(args, (opt, val) -> {
                    switch (opt) {
                        case "-r": case "--repair": c.repair = val; return true;
                        case "--output": c.output = val; return true;
                        case "-f": c.format = val; return true;
                        case "-U": case "--force-share": c.forceShare = true; return true;
                        case "-p": c.progress = true; return true;
                        case "-q": c.quiet = true; return true;
                        default: return false;
                    }
                }, "-r --repair --output -f", p -> file[0] = file[0] == null ? Path.of(p) : null);
                c.file = file[0];
                return ok && c.file != null ? c : null;
            }
            case "info": {
                InfoCommand c = new InfoCommand();
                String[] file = {null};
                int[] n = {0};
                boolean ok = walk(args, (opt, val) -> {
                    switch (opt) {
                        case "--output": c.output = val; return true;
                        case "-f": c.format = val; return true;
                        case "-U": case "--force-share": c.forceShare = true; return true;
                        case "--backing-chain": c.backingChain = true; return true;
                        default: return false;
                    }
                }, "--output -f", p -> {
                    file[0] = p;
                    n[0]++;
                });
                c.file = file[0];
                return ok && n[0] == 1 ? c : null;
            }
            case "batch":
                return io.qjournal.cli.batch.BatchFastArgs.parse(args);
            default:
                return null;
        }
    }

    public interface OptionSink {
        boolean accept(String option, String value);
    }

    public interface PositionalSink {
        void accept(String value);
    }

    /** getopt-like walk: "-x V", "-xV", "--long V", "--long=V"; false on anything unknown. */
    public static boolean walk(List<String> args, OptionSink sink, String withValue, PositionalSink pos) {
        String[] takes = withValue.split(" ");
        boolean options = true;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (options && a.equals("--")) {
                options = false;
                continue;
            }
            if (!options || !a.startsWith("-") || a.length() == 1) {
                pos.accept(a);
                continue;
            }
            String name = a;
            String value = null;
            if (a.startsWith("--")) {
                int eq = a.indexOf('=');
                if (eq > 0) {
                    name = a.substring(0, eq);
                    value = a.substring(eq + 1);
                }
            } else if (a.length() > 2) {
                name = a.substring(0, 2);
                value = a.substring(2);
            }
            boolean needs = List.of(takes).contains(name);
            if (needs && value == null) {
                if (++i >= args.size()) {
                    return false;
                }
                value = args.get(i);
            } else if (!needs && value != null) {
                return false;
            }
            if (!sink.accept(name, value)) {
                return false;
            }
        }
        return true;
    }
}
