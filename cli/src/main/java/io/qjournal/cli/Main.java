package io.qjournal.cli;

import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * Entry point of bin/qjournal. Only the requested subcommand is handed to picocli, so a
 * `check` in an operator's loop does not pay for reflecting over every command.
 */
@Command(name = "qjournal", mixinStandardHelpOptions = true, version = "qjournal version " + Main.VERSION,
        description = "qcow2 images with a metadata journal (qemu-img/qemu-io style).",
        subcommands = {CreateCommand.class, InfoCommand.class, CheckCommand.class, MapCommand.class,
            ConvertCommand.class, IoCommand.class, BenchCommand.class, ReplayCommand.class, JournalCommand.class,
            io.qjournal.cli.batch.BatchCommand.class},
        footer = {"", "Global options: --version, --debug (stack traces on errors), --help.",
            "Run 'qjournal COMMAND --help' for a command's options."})
public final class Main implements Runnable {
    public static final String VERSION = "0.1.0-SNAPSHOT";

    static boolean debug;

    @Override
    public void run() {
        throw new CliException("missing command (try 'qjournal --help')");
    }

    public static void main(String[] args) {
        PrintStream out = new PrintStream(new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16), false);
        System.setOut(out);
        int rc;
        try {
            rc = run(args);
        } catch (OutOfMemoryError e) {
            System.out.flush();
            System.err.println("qjournal: out of memory (raise -Xmx through JAVA_OPTS)");
            rc = 1;
        } catch (Throwable t) {
            rc = report(t);
        }
        System.out.flush();
        System.exit(rc);
    }

    @SuppressWarnings("unchecked")
    static int run(String[] argv) {
        List<String> args = new ArrayList<>(List.of(argv));
        debug = args.remove("--debug");
        if (args.size() == 1 && (args.get(0).equals("--version") || args.get(0).equals("-V"))) {
            System.out.println("qjournal version " + VERSION);
            return 0;
        }
        if (!args.isEmpty() && args.get(0).equals("batch")) {
            io.qjournal.cli.batch.BatchFastArgs.prestart(args);
        }
        if (!args.isEmpty()) {
            Object fast = FastArgs.parse(args.get(0), args.subList(1, args.size()));
            if (fast != null) {
                try {
                    return ((java.util.concurrent.Callable<Integer>) fast).call();
                } catch (Exception | Error e) {
                    return report(e);
                }
            }
        }
        Object cmd = args.isEmpty() ? null : commandFor(args.get(0));
        CommandLine cl;
        String[] rest;
        if (cmd != null) {
            cl = new CommandLine(cmd);
            cl.setCommandName("qjournal " + args.get(0));
            rest = args.subList(1, args.size()).toArray(new String[0]);
        } else {
            cl = new CommandLine(new Main());
            rest = args.toArray(new String[0]);
            if (args.isEmpty()) {
                cl.usage(System.err);
                return 1;
            }
            if (!args.get(0).startsWith("-")) {
                System.err.println("qjournal: Command not found: " + args.get(0) + " (try 'qjournal --help')");
                return 1;
            }
        }
        cl.setOut(new java.io.PrintWriter(System.out, true));
        cl.setErr(new java.io.PrintWriter(System.err, true));
        cl.setParameterExceptionHandler((ex, a) -> {
            String name = ex.getCommandLine().getCommandSpec().qualifiedName();
            System.err.println(name.equals("qjournal") ? "qjournal: " + ex.getMessage()
                    : "qjournal: " + name.replace("qjournal ", "") + ": " + ex.getMessage());
            return 1;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> report(ex));
        return cl.execute(rest);
    }

    private static Object commandFor(String name) {
        switch (name) {
            case "create": return new CreateCommand();
            case "info": return new InfoCommand();
            case "check": return new CheckCommand();
            case "map": return new MapCommand();
            case "convert": return new ConvertCommand();
            case "io": return new IoCommand();
            case "bench": return new BenchCommand();
            case "replay": return new ReplayCommand();
            case "journal": return new JournalCommand();
            case "batch": return new io.qjournal.cli.batch.BatchCommand();
            default: return null;
        }
    }

    /** Turns any failure into one line on stderr and an exit status. */
    static int report(Throwable ex) {
        System.out.flush();
        if (debug) {
            ex.printStackTrace();
        }
        System.err.println("qjournal: " + message(ex));
        return ex instanceof CliException c ? c.exitCode() : 1;
    }

    static String message(Throwable ex) {
        if (ex instanceof CliException || ex instanceof IOException) {
            String m = ex.getMessage();
            if (ex instanceof java.nio.file.NoSuchFileException) {
                return m + ": No such file or directory";
            }
            if (ex instanceof java.nio.file.AccessDeniedException) {
                return m + ": Permission denied";
            }
            if (ex instanceof java.nio.file.FileAlreadyExistsException) {
                return m + ": File exists";
            }
            return m == null ? ex.getClass().getSimpleName() : m;
        }
        if (ex instanceof IllegalArgumentException) {
            return ex.getMessage();
        }
        if (ex instanceof UnsupportedOperationException) {
            return "not supported yet" + (ex.getMessage() == null ? "" : ": " + ex.getMessage());
        }
        if (ex instanceof OutOfMemoryError) {
            return "out of memory (raise -Xmx through JAVA_OPTS)";
        }
        return "internal error: " + ex + (debug ? "" : " (run with --debug for details)");
    }
}
