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
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * NBD server (fixed newstyle) on Netty: TCP and/or a Unix domain socket, native epoll when
 * available, NIO otherwise. Protocol work runs on the event loops; export calls (which block on
 * disk) run on a pool of I/O worker threads, many per connection, replies written as they finish.
 *
 * <p>Limits: connections beyond {@code maxConnections} are closed at accept; a WRITE whose
 * payload is larger than the advertised maximum payload ends the connection (its data cannot be
 * skipped safely without reading it); READs over the maximum are answered with EINVAL; requests
 * beyond the export get EINVAL (ENOSPC for WRITE and WRITE_ZEROES, as QEMU answers). Stalls and
 * memory are bounded per connection by {@link NbdLimits}: handshake, payload and reply timeouts;
 * memory counted as really held, each connection's own share plus what it borrows from a shared
 * pool, so no connection can starve the others. The Unix socket is created with mode 0660
 * whatever the umask.
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
                         NbdLimits limits, NbdTls tls) {
        public Config {
            if (tcp == null && unixSocket == null) {
                throw new IllegalArgumentException("NBD: neither a TCP address nor a Unix socket given");
            }
            if (maxConnections < 1 || maxPayload < 4096 || ioThreads < 1) {
                throw new IllegalArgumentException("NBD: maxConnections, maxPayload (>= 4096) and ioThreads must be positive");
            }
            // A connection must be able to hold one maximum WRITE while its input grows.
            if (maxPayload > NbdLimits.CONNECTION_BYTES / 2) {
                throw new IllegalArgumentException("NBD: maxPayload over " + NbdLimits.CONNECTION_BYTES / 2);
            }
            Objects.requireNonNull(log, "log");
            Objects.requireNonNull(limits, "limits");
            // A maximum WRITE is reserved whole from the pool: it must fit.
            if (limits.bufferPool() < maxPayload + ConnectionMemory.MAX_READ) {
                throw new IllegalArgumentException("NBD: the buffer pool must hold at least one maximum payload plus "
                        + ConnectionMemory.MAX_READ + " bytes (" + (maxPayload + ConnectionMemory.MAX_READ) + ")");
            }
        }

        /** Default limits, without TLS. */
        public Config(InetSocketAddress tcp, Path unixSocket, int maxConnections, int maxPayload, int ioThreads,
                      Consumer<String> log) {
            this(tcp, unixSocket, maxConnections, maxPayload, ioThreads, log, NbdLimits.defaults(), null);
        }

        /** 256 connections, 32 MiB payloads, 4 workers per core (at least 8), log to stderr. */
        public static Config defaults(InetSocketAddress tcp) {
            int workers = Math.max(8, 4 * Runtime.getRuntime().availableProcessors());
            return new Config(tcp, null, 256, 32 << 20, workers, System.err::println);
        }

        public Config withUnixSocket(Path path) {
            return new Config(tcp, path, maxConnections, maxPayload, ioThreads, log, limits, tls);
        }

        public Config withLog(Consumer<String> newLog) {
            return new Config(tcp, unixSocket, maxConnections, maxPayload, ioThreads, newLog, limits, tls);
        }

        public Config withMaxConnections(int max) {
            return new Config(tcp, unixSocket, max, maxPayload, ioThreads, log, limits, tls);
        }

        public Config withLimits(NbdLimits newLimits) {
            return new Config(tcp, unixSocket, maxConnections, maxPayload, ioThreads, log, newLimits, tls);
        }

        public Config withTls(NbdTls newTls) {
            return new Config(tcp, unixSocket, maxConnections, maxPayload, ioThreads, log, limits, newTls);
        }
    }

    private final NbdExports exports;
    private final Config config;
    private final boolean epoll;
    private final Set<NbdConnection> connections = ConcurrentHashMap.newKeySet();
    private final AtomicInteger admitted = new AtomicInteger();
    private final NbdBufferPool pool;
    private volatile Duration handshakeTimeout;
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
        this.pool = new NbdBufferPool(config.limits().bufferPool());
        this.handshakeTimeout = config.limits().handshakeTimeout();
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
                UnixSocketFile.removeStale(path);
                UnixSocketFile file = UnixSocketFile.prepare(path);
                try {
                    SocketAddress addr = epoll ? new DomainSocketAddress(file.bindPath().toString())
                            : UnixDomainSocketAddress.of(file.bindPath());
                    listeners.add(bind(epoll ? EpollServerDomainSocketChannel.class
                            : NioServerDomainSocketChannel.class, addr, path.toString()));
                    file.publish();
                } finally {
                    file.cleanUp();
                }
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
        // WRITE payloads of 64 KiB and more arrive in one or two reads rather than in dozens of
        // small ones, each appended to the input by a copy; never more than a connection's room.
        AdaptiveRecvByteBufAllocator sizing = new AdaptiveRecvByteBufAllocator(ConnectionMemory.MIN_READ, 65536,
                ConnectionMemory.MAX_READ);
        ServerBootstrap b = new ServerBootstrap()
                .group(acceptGroup, ioGroup)
                .channel(type)
                .option(ChannelOption.SO_BACKLOG, 256)
                .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (ch instanceof SocketChannel) {
                            ch.config().setOption(ChannelOption.TCP_NODELAY, true);
                            // A client that vanishes without a FIN (host down, partition) is noticed eventually.
                            ch.config().setOption(ChannelOption.SO_KEEPALIVE, true);
                        }
                        NbdConnection conn = new NbdConnection(NbdServer.this);
                        ch.config().setRecvByteBufAllocator(new BudgetedRecvAllocator(sizing, conn.memory()));
                        // Replies finish on worker threads; consolidate their flushes into fewer syscalls.
                        ch.pipeline().addLast(new FlushConsolidationHandler(64, true));
                        ch.pipeline().addLast(conn);
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

    /** Request memory the open connections hold (input, payloads, replies). */
    long bufferedBytes() {
        long n = 0;
        for (NbdConnection c : connections) {
            n += c.memory().held();
        }
        return n;
    }

    /** For test messages: each connection's memory. */
    String describeMemory() {
        StringBuilder b = new StringBuilder("pool lent " + pool.lent() + " of " + pool.capacity());
        for (NbdConnection c : connections) {
            b.append("; ").append(c.peer()).append(": ").append(c.memory()).append(", in flight ").append(c.inFlight())
                    .append(c.paused() ? ", paused" : "").append(c.awaitingPayload() ? ", awaiting payload" : "");
        }
        return b.toString();
    }

    NbdBufferPool bufferPool() {
        return pool;
    }

    Duration handshakeTimeout() {
        return handshakeTimeout;
    }

    /** For tests: a shorter handshake timeout. */
    void setHandshakeTimeout(Duration d) {
        handshakeTimeout = d;
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
