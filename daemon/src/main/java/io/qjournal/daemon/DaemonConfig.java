package io.qjournal.daemon;

import io.qjournal.daemon.nbd.NbdLimits;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.Sizes;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * qjournald's settings: command-line flags over an optional config file of {@code key = value}
 * lines whose keys are the flag names without dashes. A flag wins over the file's key; images
 * from both are served, a flag image replacing a file image of the same name.
 */
public final class DaemonConfig {
    public static final Path DEFAULT_FILE = Path.of("/etc/qjournal/qjournald.conf");
    static final Set<String> KEYS = Set.of("image", "image-dir", "nbd", "nbd-socket", "jmx", "jmx-password-file",
            "jmx-access-file", "jmx-no-auth", "debug",
            "allow-dir", "nbd-tls-creds", "nbd-tls-verify-peer", "nbd-allow-plaintext",
            "nbd-max-connections", "nbd-handshake-timeout", "nbd-payload-timeout", "nbd-reply-timeout",
            "nbd-buffer-pool");
    // A config file is a few lines; refuse anything that is clearly not one.
    private static final long MAX_FILE_BYTES = 1 << 20;

    /** What the command line asked for besides running. */
    public enum Action { RUN, HELP, VERSION, CHECK_CONFIG }

    public Action action = Action.RUN;
    public Path configFile;
    public final List<ImageSpec> images = new ArrayList<>();
    public final List<Path> imageDirs = new ArrayList<>();
    /** More directories images and backing files may lie in (besides image-dirs and --image's). */
    public final List<Path> allowDirs = new ArrayList<>();
    /** null = no TCP listener ({@code nbd = off}). */
    public InetSocketAddress nbd = new InetSocketAddress("127.0.0.1", 10809);
    public Path nbdSocket;
    /** TLS credentials directory (QEMU tls-creds-x509 layout); null = plain text. */
    public Path nbdTlsCreds;
    public boolean nbdTlsVerifyPeer;
    public boolean nbdAllowPlaintext;
    /** null = no JMX connector ({@code jmx = off}). */
    public InetSocketAddress jmx = new InetSocketAddress("127.0.0.1", 9010);
    public Path jmxPasswordFile;
    public Path jmxAccessFile;
    public boolean jmxNoAuth;
    public boolean debug;
    /** NBD connections open at once; more are refused at accept. */
    public int nbdMaxConnections = 1024;
    /** NBD timeouts and the shared request memory (see docs/daemon.md, "Limits and timeouts"). */
    public NbdLimits nbdLimits = NbdLimits.defaults();

    @Command(name = "qjournald", sortOptions = false,
            description = "Serves qcow2 images with live metadata journals over NBD, steered through JMX.")
    static final class Flags {
        @Option(names = "--config", paramLabel = "FILE",
                description = "Config file (default /etc/qjournal/qjournald.conf when it exists).")
        Path config;
        @Option(names = "--image", paramLabel = "NAME=PATH[,journal=on|off][,readonly=on][,commit-interval=T]"
                + "[,commit-datasize=N][,description=TEXT]", description = "Serve an image as export NAME"
                + " (repeatable); clients see TEXT (default NAME) as its description.")
        List<String> images = new ArrayList<>();
        @Option(names = "--image-dir", paramLabel = "DIR",
                description = "Serve every *.qcow2 in DIR under its file name without .qcow2 (repeatable).")
        List<String> imageDirs = new ArrayList<>();
        @Option(names = "--allow-dir", paramLabel = "DIR", description = "Also allow images and backing files"
                + " in DIR (repeatable; image-dirs and the directories of --image are always allowed).")
        List<String> allowDirs = new ArrayList<>();
        @Option(names = "--nbd", paramLabel = "HOST:PORT|off", description = "NBD TCP listener (default 127.0.0.1:10809).")
        String nbd;
        @Option(names = "--nbd-socket", paramLabel = "PATH", description = "Also listen on a Unix socket.")
        String nbdSocket;
        @Option(names = "--nbd-tls-creds", paramLabel = "DIR",
                description = "NBD over TLS only, with ca-cert.pem, server-cert.pem, server-key.pem from DIR.")
        String nbdTlsCreds;
        @Option(names = "--nbd-tls-verify-peer", description = "Clients must present a certificate signed by the CA.")
        Boolean nbdTlsVerifyPeer;
        @Option(names = "--nbd-allow-plaintext",
                description = "Allow a non-loopback NBD TCP address without TLS.")
        Boolean nbdAllowPlaintext;
        @Option(names = "--jmx", paramLabel = "HOST:PORT|off", description = "JMX connector (default 127.0.0.1:9010).")
        String jmx;
        @Option(names = "--jmx-password-file", paramLabel = "FILE", description = "JDK-format JMX password file.")
        String jmxPasswordFile;
        @Option(names = "--jmx-access-file", paramLabel = "FILE", description = "JDK-format JMX access file.")
        String jmxAccessFile;
        @Option(names = "--jmx-no-auth", description = "JMX without authentication (loopback address only).")
        Boolean jmxNoAuth;
        @Option(names = "--debug", description = "Stack traces with errors in the log.")
        Boolean debug;
        @Option(names = "--check-config", description = "Check flags, config file, image files and the JMX"
                + " password/access files without opening any image; prints 'configuration OK' (status 0) or"
                + " one error line (status 2).")
        boolean checkConfig;
        @Option(names = "--nbd-max-connections", paramLabel = "N",
                description = "NBD connections open at once, more are refused (default 1024).")
        String nbdMaxConnections;
        @Option(names = "--nbd-handshake-timeout", paramLabel = "T",
                description = "Close an NBD client that has not finished its handshake after T (default 10s).")
        String nbdHandshakeTimeout;
        @Option(names = "--nbd-payload-timeout", paramLabel = "T",
                description = "Close an NBD client whose WRITE payload has not arrived T after its header (default 30s).")
        String nbdPayloadTimeout;
        @Option(names = "--nbd-reply-timeout", paramLabel = "T",
                description = "Close an NBD client that has not read its replies for T (default 30s).")
        String nbdReplyTimeout;
        @Option(names = "--nbd-buffer-pool", paramLabel = "SIZE",
                description = "NBD request memory shared beyond each connection's own 128K (default 256M).")
        String nbdBufferPool;
        @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help.")
        boolean help;
        @Option(names = {"-V", "--version"}, versionHelp = true, description = "Show the version.")
        boolean version;
    }

    public static String usage() {
        return new CommandLine(new Flags()).getUsageMessage();
    }

    /** Flags, then the config file they name (or the default file, if present). */
    public static DaemonConfig parse(String[] args) throws ConfigException {
        return parse(args, DEFAULT_FILE);
    }

    static DaemonConfig parse(String[] args, Path defaultFile) throws ConfigException {
        Flags f = new Flags();
        CommandLine cl = new CommandLine(f);
        try {
            cl.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            throw new ConfigException(e.getMessage());
        }
        DaemonConfig c = new DaemonConfig();
        if (cl.isUsageHelpRequested()) {
            c.action = Action.HELP;
            return c;
        }
        if (cl.isVersionHelpRequested()) {
            c.action = Action.VERSION;
            return c;
        }
        Map<String, List<String>> file = new LinkedHashMap<>();
        if (f.config != null) {
            c.configFile = f.config;
            file = readFile(f.config);
        } else if (defaultFile != null && Files.isRegularFile(defaultFile)) {
            c.configFile = defaultFile;
            file = readFile(defaultFile);
        }
        String where = c.configFile == null ? "" : c.configFile + ": ";

        Map<String, ImageSpec> images = new LinkedHashMap<>();
        // Relative paths in the file are relative to the file (systemd runs the daemon in /).
        Path base = c.configFile == null ? null : c.configFile.toAbsolutePath().getParent();
        for (String s : file.getOrDefault("image", List.of())) {
            ImageSpec spec = prefixed(where, s);
            spec = spec.withPath(base.resolve(spec.path()));
            if (images.put(spec.name(), spec) != null) {
                throw new ConfigException(where + "image name '" + spec.name() + "' appears twice");
            }
        }
        Set<String> fromFlags = new java.util.HashSet<>();
        for (String s : f.images) {
            ImageSpec spec = ImageSpec.parse(s);
            if (!fromFlags.add(spec.name())) {
                throw new ConfigException("--image name '" + spec.name() + "' given twice");
            }
            images.put(spec.name(), spec);
        }
        c.images.addAll(images.values());
        for (String d : file.getOrDefault("image-dir", List.of())) {
            c.imageDirs.add(base.resolve(d));
        }
        for (String d : f.imageDirs) {
            c.imageDirs.add(Path.of(d));
        }
        for (String d : file.getOrDefault("allow-dir", List.of())) {
            c.allowDirs.add(base.resolve(d));
        }
        for (String d : f.allowDirs) {
            c.allowDirs.add(Path.of(d));
        }

        String nbd = pick(f.nbd, file, "nbd", where);
        if (nbd != null) {
            c.nbd = nbd.equals("off") ? null : hostPort("--nbd", nbd);
        }
        String sock = pick(f.nbdSocket, file, "nbd-socket", where);
        c.nbdSocket = sock == null || sock.isEmpty() ? null : Path.of(sock);
        String tlsCreds = pick(f.nbdTlsCreds, file, "nbd-tls-creds", where);
        c.nbdTlsCreds = tlsCreds == null ? null : Path.of(tlsCreds);
        c.nbdTlsVerifyPeer = f.nbdTlsVerifyPeer != null ? f.nbdTlsVerifyPeer : bool(file, "nbd-tls-verify-peer", where);
        c.nbdAllowPlaintext = f.nbdAllowPlaintext != null ? f.nbdAllowPlaintext
                : bool(file, "nbd-allow-plaintext", where);
        String jmx = pick(f.jmx, file, "jmx", where);
        if (jmx != null) {
            c.jmx = jmx.equals("off") ? null : hostPort("--jmx", jmx);
        }
        String pw = pick(f.jmxPasswordFile, file, "jmx-password-file", where);
        c.jmxPasswordFile = pw == null ? null : Path.of(pw);
        String acc = pick(f.jmxAccessFile, file, "jmx-access-file", where);
        c.jmxAccessFile = acc == null ? null : Path.of(acc);
        c.jmxNoAuth = f.jmxNoAuth != null ? f.jmxNoAuth : bool(file, "jmx-no-auth", where);
        c.debug = f.debug != null ? f.debug : bool(file, "debug", where);
        parseNbdLimits(c, f, file, where);

        if (c.nbd == null && c.nbdSocket == null) {
            throw new ConfigException("nbd is off and no nbd-socket is given: clients could not reach any image");
        }
        checkNbdTls(c);
        if (c.jmx != null && c.jmxNoAuth && !c.jmx.getAddress().isLoopbackAddress()) {
            throw new ConfigException("--jmx-no-auth is only allowed with a loopback JMX address, not "
                    + c.jmx.getHostString());
        }
        if (c.jmx != null && !c.jmxNoAuth && c.jmxPasswordFile == null) {
            throw new ConfigException("JMX authentication needs --jmx-password-file FILE (or --jmx-no-auth on a"
                    + " loopback address, or --jmx off)");
        }
        if (f.checkConfig) {
            c.action = Action.CHECK_CONFIG;
        }
        return c;
    }

    /** Refused before anything binds: disks in plain text on the network, or verify-peer without TLS. */
    private static void checkNbdTls(DaemonConfig c) throws ConfigException {
        if (c.nbdTlsVerifyPeer && c.nbdTlsCreds == null) {
            throw new ConfigException("--nbd-tls-verify-peer needs --nbd-tls-creds DIR");
        }
        if (c.nbd != null && c.nbdTlsCreds == null && !c.nbdAllowPlaintext && !c.nbd.getAddress().isLoopbackAddress()) {
            throw new ConfigException("--nbd " + c.nbd.getHostString() + ":" + c.nbd.getPort() + " is not a loopback"
                    + " address: give --nbd-tls-creds DIR, or --nbd-allow-plaintext to let anyone who reaches it"
                    + " read and write every image");
        }
    }

    private static void parseNbdLimits(DaemonConfig c, Flags f, Map<String, List<String>> file, String where)
            throws ConfigException {
        String max = pick(f.nbdMaxConnections, file, "nbd-max-connections", where);
        if (max != null) {
            try {
                c.nbdMaxConnections = Integer.parseInt(max);
            } catch (NumberFormatException e) {
                c.nbdMaxConnections = -1;
            }
            if (c.nbdMaxConnections < 1) {
                throw new ConfigException(where + "nbd-max-connections takes a positive number, not '" + max + "'");
            }
        }
        NbdLimits l = c.nbdLimits;
        l = l.withHandshakeTimeout(timeout(pick(f.nbdHandshakeTimeout, file, "nbd-handshake-timeout", where),
                "nbd-handshake-timeout", l.handshakeTimeout(), where));
        l = l.withPayloadTimeout(timeout(pick(f.nbdPayloadTimeout, file, "nbd-payload-timeout", where),
                "nbd-payload-timeout", l.payloadTimeout(), where));
        l = l.withReplyTimeout(timeout(pick(f.nbdReplyTimeout, file, "nbd-reply-timeout", where),
                "nbd-reply-timeout", l.replyTimeout(), where));
        String pool = pick(f.nbdBufferPool, file, "nbd-buffer-pool", where);
        if (pool != null) {
            try {
                l = l.withBufferPool(Sizes.parse(pool));
            } catch (IllegalArgumentException e) {
                throw new ConfigException(where + "nbd-buffer-pool: " + e.getMessage());
            }
            // One maximum WRITE (32M) is reserved whole from the pool: it must fit.
            if (l.bufferPool() < 33L << 20) {
                throw new ConfigException(where + "nbd-buffer-pool must be at least 33M, not '" + pool + "'");
            }
        }
        c.nbdLimits = l;
    }

    private static Duration timeout(String v, String key, Duration dflt, String where) throws ConfigException {
        if (v == null) {
            return dflt;
        }
        Duration d;
        try {
            d = JournalOptions.parseDuration(v);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(where + key + ": " + e.getMessage());
        }
        if (d.toMillis() < 1 || d.compareTo(Duration.ofDays(1)) > 0) {
            throw new ConfigException(where + key + " must be between 1ms and 24h, not '" + v + "'");
        }
        return d;
    }

    private static ImageSpec prefixed(String where, String s) throws ConfigException {
        try {
            return ImageSpec.parse(s);
        } catch (ConfigException e) {
            throw new ConfigException(where + e.getMessage());
        }
    }

    /** The flag's value, else the file's single value for the key, else null. */
    private static String pick(String flag, Map<String, List<String>> file, String key, String where)
            throws ConfigException {
        if (flag != null) {
            return flag.trim();
        }
        List<String> v = file.get(key);
        if (v == null) {
            return null;
        }
        if (v.size() > 1) {
            throw new ConfigException(where + "key '" + key + "' given " + v.size() + " times");
        }
        return v.get(0);
    }

    private static boolean bool(Map<String, List<String>> file, String key, String where) throws ConfigException {
        String v = pick(null, file, key, where);
        if (v == null) {
            return false;
        }
        switch (v) {
            case "true": case "on": case "yes": case "1":
                return true;
            case "false": case "off": case "no": case "0":
                return false;
            default:
                throw new ConfigException(where + key + " takes true or false, not '" + v + "'");
        }
    }

    /** HOST:PORT, [IPv6]:PORT; the host must resolve now (a listener binds to it). */
    static InetSocketAddress hostPort(String flag, String v) throws ConfigException {
        int colon = v.lastIndexOf(':');
        if (colon <= 0 || colon == v.length() - 1) {
            throw new ConfigException(flag + " '" + v + "': expected HOST:PORT (or off)");
        }
        String host = v.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(v.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new ConfigException(flag + " '" + v + "': port must be a number");
        }
        if (port < 0 || port > 65535) {
            throw new ConfigException(flag + " '" + v + "': port must be 0 to 65535");
        }
        InetSocketAddress a = new InetSocketAddress(host, port);
        if (a.isUnresolved()) {
            throw new ConfigException(flag + " '" + v + "': cannot resolve host '" + host + "'");
        }
        return a;
    }

    static Map<String, List<String>> readFile(Path p) throws ConfigException {
        List<String> lines;
        try {
            if (Files.size(p) > MAX_FILE_BYTES) {
                throw new ConfigException(p + ": too large for a config file");
            }
            lines = Files.readAllLines(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ConfigException(p + ": cannot read config file ("
                    + (e instanceof java.nio.file.NoSuchFileException ? "no such file" : e.getMessage()) + ")");
        }
        Map<String, List<String>> m = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int eq = line.indexOf('=');
            if (eq <= 0) {
                throw new ConfigException(p + " line " + (i + 1) + ": expected 'key = value', got '" + line + "'");
            }
            String key = line.substring(0, eq).strip();
            String value = line.substring(eq + 1).strip();
            if (!KEYS.contains(key)) {
                throw new ConfigException(p + " line " + (i + 1) + ": unknown key '" + key + "' (known: "
                        + String.join(", ", new java.util.TreeSet<>(KEYS)) + ")");
            }
            if (value.isEmpty() && !key.equals("nbd-socket")) {
                throw new ConfigException(p + " line " + (i + 1) + ": key '" + key + "' has no value");
            }
            m.computeIfAbsent(key, k -> new ArrayList<>()).add(value);
        }
        return m;
    }
}
