package io.qjournal.batch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.jboss.weld.environment.se.WeldContainer;

/**
 * Build step (the batch-jobs module runs it after compiling): starts the batch runtime's Weld
 * container once with Weld's proxy dump on, and puts the client proxy classes Weld generated
 * (for its built-in {@code Event} and {@code Instance} beans) into the class output, under the
 * names Weld looks for. At run time Weld's proxy factory finds them on the class path, and the
 * launcher's class archive holds them, instead of generating them in every process: about a
 * sixth of Weld's start.
 *
 * <p>They are made from the Weld of this very build, so they cannot go stale; should one be
 * missing, Weld generates it as before. {@code WeldProxiesTest} checks that none is generated.
 *
 * <p>Usage: {@code WeldProxies CLASS_OUTPUT_DIR}.
 */
final class WeldProxies {
    /** Where Weld names the proxies of {@code jakarta.*} types (and where the build puts them). */
    static final String PACKAGE = "org.jboss.weld.generated.proxies";
    static final String DUMP_PROPERTY = "org.jboss.weld.proxy.dump";

    private WeldProxies() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: WeldProxies CLASS_OUTPUT_DIR");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        // This JVM's class path holds the output directory: proxies of an earlier build would be
        // loaded instead of generated. Weld has loaded none yet.
        deleteTree(out.resolve(PACKAGE.replace('.', '/')));
        Path dump = Files.createTempDirectory("weld-proxies");
        try {
            System.setProperty(DUMP_PROPERTY, dump.toString());
            QBatch.quietLogs();
            WeldContainer c = CdiBoot.configured("qjournal-weld-proxies").initialize();
            c.shutdown();
            List<Path> written = install(dump, out);
            if (written.isEmpty()) {
                throw new IllegalStateException("Weld generated no proxy classes; nothing to install");
            }
            System.out.println("WeldProxies: " + written.size() + " proxy classes in " + out);
        } finally {
            deleteTree(dump);
        }
    }

    /** Moves dumped files (named by binary class name) into package directories under {@code out}. */
    static List<Path> install(Path dump, Path out) throws IOException {
        try (Stream<Path> files = Files.list(dump)) {
            List<Path> dumped = files.filter(f -> f.getFileName().toString().endsWith(".class")).sorted().toList();
            for (Path f : dumped) {
                String binary = f.getFileName().toString();
                binary = binary.substring(0, binary.length() - ".class".length());
                if (!binary.startsWith(PACKAGE + ".")) {
                    throw new IllegalStateException("unexpected proxy class " + binary + " (not in " + PACKAGE + ")");
                }
                int dot = binary.lastIndexOf('.');
                Path dir = out.resolve(binary.substring(0, dot).replace('.', '/'));
                Files.createDirectories(dir);
                Files.copy(f, dir.resolve(binary.substring(dot + 1) + ".class"),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            return dumped;
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
