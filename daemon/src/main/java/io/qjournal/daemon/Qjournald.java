package io.qjournal.daemon;

import io.qjournal.daemon.nbd.NbdServer;
import io.qjournal.daemon.nbd.NbdTls;
import io.qjournal.jmx.JmxAgent;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import sun.misc.Signal;

/**
 * qjournald: opens every configured image (replaying dirty journals), starts the NBD server and
 * the JMX connector, tells systemd it is ready, and on SIGTERM stops accepting, lets requests in
 * flight finish and closes every image cleanly before exiting with status 0.
 *
 * <p>Exit status: 0 after a clean stop, 1 when an image, listener or clean close failed, 2 for
 * bad flags or config.
 */
public final class Qjournald {
    /** Requests in flight get this long to finish after SIGTERM before connections are cut. */
    static final Duration REQUEST_GRACE = Duration.ofSeconds(20);
    /** Whole stop, under the unit's TimeoutStopSec=120 so systemd never has to SIGKILL. */
    static final Duration STOP_TIMEOUT = Duration.ofSeconds(
            Long.getLong("qjournald.stopTimeoutSeconds", 100));
    static final int MAX_PAYLOAD = 32 << 20;
    static final int OPEN_THREADS = Integer.getInteger("qjournald.openThreads", 8);

    private final DaemonConfig config;
    private final ImageRegistry registry;
    private final SdNotify notify = new SdNotify();
    private final CountDownLatch stopRequested = new CountDownLatch(1);
    private final AtomicInteger signals = new AtomicInteger();
    private volatile String stopReason = "stop requested";
    private NbdServer nbd;
    private NbdTls nbdTls;
    private JmxAgent jmx;
    private ScheduledExecutorService poller;

    private Qjournald(DaemonConfig config) throws ConfigException {
        this.config = config;
        this.registry = new ImageRegistry(AllowedRoots.of(config));
    }

    public static void main(String[] args) {
        DaemonConfig c;
        try {
            c = DaemonConfig.parse(args);
        } catch (ConfigException e) {
            System.err.println(Log.prefix(Log.Level.ERROR) + "qjournald: " + e.getMessage() + " (see qjournald --help)");
            System.exit(2);
            return;
        }
        switch (c.action) {
            case HELP:
                System.out.print(DaemonConfig.usage());
                System.exit(0);
                return;
            case VERSION:
                System.out.println("qjournald " + version());
                System.exit(0);
                return;
            case CHECK_CONFIG:
                System.exit(ConfigCheck.run(c));
                return;
            default:
                break;
        }
        Log.setDebug(c.debug);
        int status;
        try {
            status = new Qjournald(c).run();
        } catch (ConfigException e) {
            Log.error(null, e.getMessage(), null);
            status = 2;
        } catch (Throwable t) {
            Log.error(null, "fatal: " + Log.reason(t), t);
            status = 1;
        }
        System.exit(status);
    }

    public static String version() {
        String v = Qjournald.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    private int run() throws ConfigException, InterruptedException {
        installSignalHandlers();
        // A bad password file must stop the start before any image is locked or replayed.
        ConfigCheck.beforeImages(config);
        List<ImageSpec> specs = resolveImages(config);
        nbdTls = loadNbdTls(config);
        Log.info("qjournald " + version() + " starting: " + specs.size() + " image(s)"
                + (config.configFile == null ? "" : ", config " + config.configFile));
        boolean started = false;
        boolean ok;
        try {
            started = start(specs);
            if (started) {
                stopRequested.await();
            }
        } finally {
            if (!started) {
                stopReason = "start failed";
            }
            ok = shutdown();
        }
        return started && ok ? 0 : 1;
    }

    /** Opens the images and starts the listeners; false when one failed (already logged). */
    private boolean start(List<ImageSpec> specs) throws InterruptedException {
        warmUpListeners();
        if (!openAll(specs)) {
            return false;
        }
        if (stopRequested.getCount() == 0) {
            return true;
        }
        if (!startListeners()) {
            return false;
        }
        if (stopRequested.getCount() != 0) {
            poller = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "qjournald-poll");
                t.setDaemon(true);
                return t;
            });
            poller.scheduleWithFixedDelay(this::poll, 1, 1, TimeUnit.SECONDS);
            // Only now: every image is open (journals replayed) and both listeners accept.
            notify.send("READY=1\nSTATUS=serving " + registry.size() + " image(s)");
            Log.info("ready: " + registry.size() + " image(s), NBD on " + registry.nbdAddress()
                    + (jmx == null ? ", JMX off" : ", JMX on " + jmx.address()));
        }
        return true;
    }

    /**
     * Loading Netty's native transport and the RMI/JMX connector classes takes longer than
     * binding; doing it while the images open brings READY=1 sooner. Nothing binds here.
     */
    private static void warmUpListeners() {
        Thread t = new Thread(() -> {
            try {
                io.netty.channel.epoll.Epoll.isAvailable();
                new io.netty.channel.MultiThreadIoEventLoopGroup(1,
                        io.netty.channel.epoll.EpollIoHandler.newFactory()).shutdownGracefully(0, 0,
                        TimeUnit.MILLISECONDS);
                Class.forName("javax.management.remote.rmi.RMIConnectorServer");
                Class.forName("sun.rmi.registry.RegistryImpl");
                java.lang.management.ManagementFactory.getPlatformMBeanServer();
            } catch (Throwable e) {
                // only a warm-up: the real start reports any problem
            }
        }, "qjournald-warmup");
        t.setDaemon(true);
        t.start();
    }

    /**
     * Opens the images a few at a time: each open waits on the disk (journal replay or
     * creation, fdatasync), so a host with many images is ready sooner.
     */
    private boolean openAll(List<ImageSpec> specs) throws InterruptedException {
        int threads = Math.min(OPEN_THREADS, Math.max(1, specs.size()));
        java.util.concurrent.ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "qjournald-open");
            t.setDaemon(true);
            return t;
        });
        java.util.concurrent.atomic.AtomicBoolean ok = new java.util.concurrent.atomic.AtomicBoolean(true);
        try {
            List<java.util.concurrent.Future<?>> done = new ArrayList<>();
            for (ImageSpec spec : specs) {
                done.add(pool.submit(() -> {
                    // After a failure or a stop request, the rest are not opened at all.
                    if (!ok.get() || stopRequested.getCount() == 0) {
                        return;
                    }
                    try {
                        registry.open(spec);
                    } catch (IOException | RuntimeException e) {
                        ok.set(false);
                        String reason = Log.reason(e);
                        String file = spec.path().toString();
                        Log.error(spec.name(), "cannot open "
                                + (reason.startsWith(file) ? reason : file + ": " + reason), e);
                    }
                }));
            }
            for (java.util.concurrent.Future<?> f : done) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    ok.set(false);
                    Log.error(null, "open: " + Log.reason(e.getCause()), e.getCause());
                }
            }
        } finally {
            pool.shutdown();
        }
        return ok.get();
    }

    private void poll() {
        try {
            registry.poll();
        } catch (RuntimeException e) {
            Log.error(null, "poll: " + Log.reason(e), e);
        }
    }

    private boolean startListeners() {
        String where = "";
        try {
            where = "NBD";
            nbd = new NbdServer(registry, new NbdServer.Config(config.nbd, config.nbdSocket, config.nbdMaxConnections,
                    MAX_PAYLOAD, Math.max(8, 4 * Runtime.getRuntime().availableProcessors()), this::nbdLog,
                    config.nbdLimits, null)
                    .withTls(nbdTls));
            nbd.start();
            registry.attach(nbd, nbdAddress());
            if (config.jmx != null) {
                where = "JMX";
                jmx = JmxAgent.start(new JmxAgent.Config(config.jmx.getHostString(), config.jmx.getPort(),
                        config.jmxPasswordFile, config.jmxAccessFile, config.jmxNoAuth), registry);
                registry.attach(jmx);
            }
            return true;
        } catch (Exception e) {
            String reason = Log.reason(e);
            Log.error(null, reason.startsWith(where) ? reason : "cannot start " + where + ": " + reason, e);
            return false;
        }
    }

    /** Before any image opens: bad credentials are a config error (exit 2), named by file. */
    static NbdTls loadNbdTls(DaemonConfig c) throws ConfigException {
        if (c.nbdTlsCreds == null) {
            return null;
        }
        try {
            return NbdTls.load(c.nbdTlsCreds, c.nbdTlsVerifyPeer);
        } catch (IOException e) {
            throw new ConfigException("nbd-tls-creds " + e.getMessage());
        }
    }

    private static final java.util.regex.Pattern EXPORT =
            java.util.regex.Pattern.compile("export ([A-Za-z0-9][A-Za-z0-9._+-]*)");

    /**
     * The NBD package logs through a plain string consumer (it knows nothing of the daemon's
     * log), so a refused or misbehaving client or a failed command is told apart here by its
     * wording and logged as a warning; the rest is info.
     */
    private static final java.util.regex.Pattern NBD_WARNING =
            java.util.regex.Pattern.compile("disconnecting|refused|failed|still running");

    /** NBD's lines that concern one export get its image prefix, as every image line does. */
    private void nbdLog(String line) {
        // An unknown name a client asked for is quoted ("export 'x'") and gets no prefix.
        java.util.regex.Matcher m = EXPORT.matcher(line);
        Log.Level level = NBD_WARNING.matcher(line).find() ? Log.Level.WARNING : Log.Level.INFO;
        Log.line(level, m.find() ? m.group(1) : null, line);
    }

    private String nbdAddress() {
        List<String> parts = new ArrayList<>();
        InetSocketAddress tcp = nbd.tcpAddress();
        if (tcp != null) {
            parts.add(tcp.getAddress().getHostAddress() + ":" + tcp.getPort());
        }
        if (config.nbdSocket != null) {
            parts.add("unix:" + config.nbdSocket);
        }
        return String.join(" ", parts);
    }

    /**
     * STOPPING=1, stop accepting, let requests in flight finish, close every image cleanly.
     * Returns false when an image could not be closed cleanly.
     */
    private boolean shutdown() {
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(STOP_TIMEOUT.toMillis());
                Log.error(null, "stop did not finish within " + STOP_TIMEOUT.toSeconds() + " s; exiting now (images"
                        + " not yet closed keep their journal, which the next start replays)", null);
                Runtime.getRuntime().halt(1);
            } catch (InterruptedException e) {
                // stopped in time
            }
        }, "qjournald-stop-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        notify.send("STOPPING=1");
        Log.info("stopping (" + stopReason + ")");
        if (poller != null) {
            poller.shutdownNow();
        }
        if (nbd != null) {
            try {
                nbd.stopAccepting();
                nbd.shutdown(REQUEST_GRACE);
            } catch (RuntimeException e) {
                Log.error(null, "NBD shutdown: " + Log.reason(e), e);
            }
        }
        pauseForTests();
        boolean ok = registry.closeAll();
        if (jmx != null) {
            try {
                jmx.close();
            } catch (RuntimeException e) {
                Log.error(null, "JMX close: " + Log.reason(e), e);
            }
        }
        if (nbd != null) {
            nbd.close();
        }
        notify.close();
        if (ok) {
            Log.info("stopped; every image closed cleanly");
        } else {
            Log.warn(null, "stopped; some images were not closed cleanly");
        }
        watchdog.interrupt();
        return ok;
    }

    /**
     * Tests of a second SIGTERM and of the stop timeout need a stop that is still running when
     * they act; a real slow disk cannot be had on demand. Off unless the property is set.
     */
    private static void pauseForTests() {
        long pause = Long.getLong("qjournald.testStopPauseMillis", 0);
        if (pause > 0) {
            Log.info("pausing the stop for " + pause + " ms (qjournald.testStopPauseMillis)");
            try {
                Thread.sleep(pause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void installSignalHandlers() {
        for (String name : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(name), sig -> {
                if (signals.incrementAndGet() == 1) {
                    stopReason = "SIG" + sig.getName();
                    stopRequested.countDown();
                } else {
                    // The journal keeps every acknowledged flush: what is not closed yet is replayed
                    // at the next start, exactly as after a crash.
                    Log.warn(null, "second SIG" + sig.getName() + ": exiting now; images not yet closed keep their"
                            + " journal for the next start to replay");
                    Runtime.getRuntime().halt(1);
                }
            });
        }
    }

    /** --image entries plus every *.qcow2 of each --image-dir; names must be unique. */
    static List<ImageSpec> resolveImages(DaemonConfig c) throws ConfigException {
        Map<String, ImageSpec> out = new LinkedHashMap<>();
        for (ImageSpec s : c.images) {
            out.put(s.name(), s);
        }
        for (Path dir : c.imageDirs) {
            if (!Files.isDirectory(dir)) {
                throw new ConfigException("image-dir " + dir + ": not a directory");
            }
            List<Path> files = new ArrayList<>();
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.qcow2")) {
                for (Path p : ds) {
                    if (Files.isRegularFile(p)) {
                        files.add(p);
                    }
                }
            } catch (IOException e) {
                throw new ConfigException("image-dir " + dir + ": cannot list (" + Log.reason(e) + ")");
            }
            files.sort(null);
            for (Path p : files) {
                String file = p.getFileName().toString();
                String name = file.substring(0, file.length() - ".qcow2".length());
                ImageSpec s = ImageSpec.of(name, p, false);
                ImageSpec prev = out.putIfAbsent(name, s);
                if (prev != null) {
                    throw new ConfigException("image name '" + name + "' from image-dir " + dir
                            + " is already used by " + prev.path());
                }
            }
        }
        return new ArrayList<>(out.values());
    }
}
