package io.qjournal.daemon.nbd;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.util.internal.PlatformDependent;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * NBD server (fixed newstyle) on Netty: TCP and/or a Unix domain socket, native epoll when
 * available, NIO otherwise. Protocol work runs on the event loops; export calls (which block on
 * disk) run on a pool of I/O worker threads, many per connection, replies written as they finish.
 *
 * <p>Limits: connections beyond {@code maxConnections} are closed at accept; a WRITE whose
 * payload is larger than the advertised maximum payload ends the connection (its data cannot be
 * skipped safely without reading it); READs over the maximum are answered with EINVAL; requests
 * beyond the export get EINVAL (ENOSPC for WRITE and WRITE_ZEROES, as QEMU answers); a client
 * that has not finished its handshake within 30 s is disconnected. Memory: every request reserves
 * its data size before it is buffered, per connection (64 requests, 64 MiB) and server-wide (half
 * the JVM's direct memory, at most 1 GiB); a connection over a limit stops reading until replies
 * have gone out.
 *
 * <p>All threads the server starts are daemon threads: the caller keeps the JVM alive.
 */
public final class NbdServer implements AutoCloseable {

    /**
     * Server settings. {@code tcp} or {@code unixSocket} may be null (not both). {@code ioThreads}
     * is the number of worker threads for the (blocking) export calls. {@code tls}: when not null,
     * every client on every listener must start TLS (NBD_OPT_STARTTLS) before anything else.
     */
    public record Config(InetSocketAddress tcp, Path unixSocket, int maxConnections, int maxPayload,
                         int ioThreads, Consumer<String> log,
                         NbdTls tls) {
        /** Without TLS. */
        public Config(InetSocketAddress tcp, Path unixSocket, int maxConnections, int maxPayload,
                      int ioThreads, Consumer<String> log) {
            this(tcp, unixSocket, maxConnections, maxPayload, ioThreads, log, null);
        }

        public Config withTls(NbdTls newTls) {
            return new Config(tcp, unixSocket, maxConnections, maxPayload, ioThreads, log, newTls);
        }

        public Config {
            if (tcp == null && unixSocket == null) {
                throw new IllegalArgumentException("NBD: neither a TCP address nor a Unix socket given");
            }
            if (maxConnections < 1 || maxPayload < 4096 || ioThreads < 1) {
                throw new IllegalArgumentException("NBD: maxConnections, maxPayload (>= 4096) and ioThreads must be positive");
            }
            Objects.requireNonNull(log, "log");
        }

        /** 256 connections, 32 MiB payloads, 4 workers per core (at least 8), log to stderr. */
        public static Config defaults(InetSocketAddress tcp) {
            int workers = Math.max(8, 4 * Runtime.getRuntime().availableProcessors());
            return new Config(tcp, null, 256, 32 << 20, workers, System.err::println);
        }

        public Config withUnixSocket(Path path) {
            return new Config(tcp, path, maxConnections, maxPayload, ioThreads, log, tls);
        }

        public Config withLog(Consumer<String> newLog) {
            return new Config(tcp, unixSocket, maxConnections, maxPayload, ioThreads, newLog, tls);
        }
    }

    /** A client that has not finished its handshake by then is disconnected. */
    static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(30);

    private final NbdExports exports;
    private final Config config;
    private final boolean epoll;
    private final Set<NbdConnection> connections = ConcurrentHashMap.newKeySet();
    private final AtomicInteger admitted = new AtomicInteger();
    /** Bytes reserved by requests of all connections (payloads arriving or running, replies pending). */
    private final AtomicLong buffered = new AtomicLong();
    private final ConcurrentLinkedQueue<NbdConnection> budgetWaiters = new ConcurrentLinkedQueue<>();
    private volatile long budget;
    private volatile Duration handshakeTimeout = HANDSHAKE_TIMEOUT;
    private final List<Channel> listeners = new ArrayList<>();
    private EventLoopGroup acceptGroup;
    private EventLoopGroup ioGroup;
    private ThreadPoolExecutor workers;
    private InetSocketAddress tcpBound;
    private Path unixBound;
    private volatile boolean started;
    private volatile boolean stopped;

    public NbdServer(NbdExports exports, Config config) {
        this(exports, config, Epoll.isAvailable());
    }

    /** With {@code epoll} false the NIO transport is used even where epoll is available (tests). */
    NbdServer(NbdExports exports, Config config, boolean epoll) {
        this.exports = Objects.requireNonNull(exports, "exports");
        this.config = Objects.requireNonNull(config, "config");
        this.epoll = epoll && Epoll.isAvailable();
        // Half the direct memory the JVM allows, at most 1 GiB, but always room for two maximum requests.
        long direct = PlatformDependent.maxDirectMemory();
        this.budget = Math.max(2L * config.maxPayload() + (1 << 20), Math.min(1L << 30, direct / 2));
    }

    /** Binds the listeners; when it returns they accept. Bind errors name the address. */
    public synchronized void start() throws IOException {
        if (started) {
            throw new IllegalStateException("NBD server already started");
        }
        started = true;
        IoHandlerFactory factory = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        acceptGroup = new MultiThreadIoEventLoopGroup(1, daemonThreads("nbd-accept"), factory);
        int loops = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
        ioGroup = new MultiThreadIoEventLoopGroup(loops, daemonThreads("nbd-io"), factory);
        workers = new ThreadPoolExecutor(config.ioThreads(), config.ioThreads(), 30, TimeUnit.SECONDS,
                new LinkedBlockingQueue<>(), daemonThreads("nbd-worker"));
        workers.allowCoreThreadTimeOut(true);
        try {
            if (config.tcp() != null) {
                Channel ch = bind(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class,
                        config.tcp(), config.tcp().getHostString() + ":" + config.tcp().getPort());
                tcpBound = (InetSocketAddress) ch.localAddress();
                listeners.add(ch);
            }
            if (config.unixSocket() != null) {
                Path path = config.unixSocket().toAbsolutePath();
                removeStaleSocket(path);
                SocketAddress addr = epoll ? new DomainSocketAddress(path.toString()) : UnixDomainSocketAddress.of(path);
                listeners.add(bind(epoll ? EpollServerDomainSocketChannel.class : NioServerDomainSocketChannel.class,
                        addr, path.toString()));
                unixBound = path;
            }
        } catch (IOException | RuntimeException e) {
            shutdown(Duration.ZERO);
            throw e;
        }
        config.log().accept("NBD: listening on " + describeListeners() + (epoll ? " (epoll)" : " (nio)")
                + (config.tls() != null ? ", " + config.tls().describe() + " on every listener" : ""));
    }

    private Channel bind(Class<? extends ServerChannel> type, SocketAddress addr, String name) throws IOException {
        ServerBootstrap b = new ServerBootstrap()
                .group(acceptGroup, ioGroup)
                .channel(type)
                .option(ChannelOption.SO_BACKLOG, 256)
                .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                // WRITE payloads of 64 KiB and more arrive in one or two reads rather than in
                // dozens of small ones, each appended to the cumulation by a copy.
                .childOption(ChannelOption.RCVBUF_ALLOCATOR, new AdaptiveRecvByteBufAllocator(4096, 65536, 1 << 20))
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (ch instanceof SocketChannel) {
                            ch.config().setOption(ChannelOption.TCP_NODELAY, true);
                            // A client that vanishes without a FIN (host down, partition) is noticed eventually.
                            ch.config().setOption(ChannelOption.SO_KEEPALIVE, true);
                        }
                        // Replies finish on worker threads; consolidate their flushes into fewer syscalls.
                        ch.pipeline().addLast(new FlushConsolidationHandler(64, true));
                        ch.pipeline().addLast(new NbdConnection(NbdServer.this));
                    }
                });
        if (type == EpollServerSocketChannel.class || type == NioServerSocketChannel.class) {
            b.option(ChannelOption.SO_REUSEADDR, true);
        }
        try {
            return b.bind(addr).sync().channel();
        } catch (Exception e) {
            throw new IOException("NBD: cannot listen on " + name + ": " + e.getMessage(), e);
        }
    }

    private static void removeStaleSocket(Path path) throws IOException {
        // A socket file left by a killed daemon would make bind fail. Anything else in the way is
        // refused here: Netty's native bind would silently unlink whatever the path names.
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        if ((mode & 0170000) != 0140000) {
            throw new IOException("NBD: cannot listen on " + path + ": the path exists and is not a socket");
        }
        try (java.nio.channels.SocketChannel probe = java.nio.channels.SocketChannel.open(
                java.net.StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(path));
            throw new IOException("NBD: cannot listen on " + path + ": another server is listening there");
        } catch (java.net.ConnectException stale) {
            // nobody listens: a leftover of a process that died
        }
        Files.delete(path);
    }

    private String describeListeners() {
        List<String> parts = new ArrayList<>();
        if (tcpBound != null) {
            parts.add(tcpBound.getAddress().getHostAddress() + ":" + tcpBound.getPort());
        }
        if (config.unixSocket() != null) {
            parts.add("unix:" + config.unixSocket());
        }
        return String.join(" and ", parts);
    }

    /** The bound TCP address (port 0 resolved), or null without TCP. */
    public InetSocketAddress tcpAddress() {
        return tcpBound;
    }

    /** Open client connections. */
    public int connections() {
        return connections.size();
    }

    /** Requests decoded and not yet answered, over all connections. */
    public int requestsInFlight() {
        int n = 0;
        for (NbdConnection c : connections) {
            n += c.inFlight();
        }
        return n;
    }

    /** Closes the listeners; existing connections go on. */
    public synchronized void stopAccepting() {
        for (Channel ch : listeners) {
            ch.close().awaitUninterruptibly();
        }
        listeners.clear();
        if (unixBound != null) {
            try {
                Files.deleteIfExists(unixBound);
                unixBound = null;
            } catch (IOException ignored) {
                // a socket file left behind is removed at the next start
            }
        }
    }

    /**
     * Closes every connection that uses this export and waits (up to 5 s) until the export calls
     * they started have returned, so the caller may close the image afterwards. Take the export
     * out of {@link NbdExports} first, so that no new client selects it meanwhile.
     */
    public void disconnect(String exportName) {
        List<NbdConnection> hit = new ArrayList<>();
        for (NbdConnection c : connections) {
            NbdExport e = c.export();
            if (e != null && e.name().equals(exportName)) {
                hit.add(c);
            }
        }
        for (NbdConnection c : hit) {
            c.closeNow("export " + exportName + " closed");
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        for (NbdConnection c : hit) {
            c.awaitIdle(deadline);
        }
    }

    /**
     * Stops accepting, lets requests in flight finish and their replies go out (up to
     * {@code grace}), then closes every connection and stops the threads.
     */
    public void shutdown(Duration grace) {
        synchronized (this) {
            if (stopped) {
                return;
            }
            stopped = true;
        }
        stopAccepting();
        long deadline = System.nanoTime() + Math.max(0, grace.toNanos());
        for (NbdConnection c : connections) {
            c.drain();
        }
        for (NbdConnection c : connections) {
            c.awaitClosed(deadline);
        }
        for (NbdConnection c : connections) {
            c.closeNow("server shutting down");
        }
        if (workers != null) {
            workers.shutdown();
            try {
                long left = Math.max(deadline - System.nanoTime(), TimeUnit.SECONDS.toNanos(1));
                if (!workers.awaitTermination(left, TimeUnit.NANOSECONDS)) {
                    config.log().accept("NBD: export calls still running after the shutdown grace period");
                    workers.shutdownNow();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (ioGroup != null) {
            ioGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
        if (acceptGroup != null) {
            acceptGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
    }

    /** shutdown(5 s). */
    @Override
    public void close() {
        shutdown(Duration.ofSeconds(5));
    }

    // ---- for NbdConnection ----

    NbdExports exports() {
        return exports;
    }

    Config config() {
        return config;
    }

    ExecutorService workers() {
        return workers;
    }

    boolean stopping() {
        return stopped;
    }

    void log(String line) {
        try {
            config.log().accept(line);
        } catch (RuntimeException ignored) {
            // a broken log sink must not take a connection down
        }
    }

    /** Bytes currently reserved by requests over all connections. */
    long bufferedBytes() {
        return buffered.get();
    }

    long budget() {
        return budget;
    }

    Duration handshakeTimeout() {
        return handshakeTimeout;
    }

    /** For tests: a shorter handshake timeout. */
    void setHandshakeTimeout(Duration d) {
        handshakeTimeout = d;
    }

    /** For tests: a smaller server-wide budget. */
    void setBudget(long bytes) {
        budget = bytes;
    }

    /**
     * Reserves memory for one request against the server-wide budget. When it does not fit, the
     * connection is told (budgetFreed) once some is released. A request always fits when nothing
     * else is reserved, so progress never stops.
     */
    boolean reserve(long cost, NbdConnection c) {
        while (true) {
            long used = buffered.get();
            if (used > 0 && used + cost > budget) {
                budgetWaiters.add(c);
                // A release between the check and the add would have found no waiter: look again.
                long now = buffered.get();
                if (now == 0 || now + cost <= budget) {
                    wakeWaiters();
                }
                return false;
            }
            if (buffered.compareAndSet(used, used + cost)) {
                return true;
            }
        }
    }

    void unreserve(long cost) {
        buffered.addAndGet(-cost);
        if (!budgetWaiters.isEmpty()) {
            wakeWaiters();
        }
    }

    private void wakeWaiters() {
        NbdConnection w;
        while ((w = budgetWaiters.poll()) != null) {
            w.budgetFreed();
        }
    }

    /** Admits a new connection unless the limit is reached. */
    boolean admit(NbdConnection c) {
        if (stopped || admitted.incrementAndGet() > config.maxConnections()) {
            admitted.decrementAndGet();
            return false;
        }
        connections.add(c);
        return true;
    }

    void release(NbdConnection c) {
        if (connections.remove(c)) {
            admitted.decrementAndGet();
        }
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }
}
