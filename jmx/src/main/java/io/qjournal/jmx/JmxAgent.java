package io.qjournal.jmx;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.rmi.NoSuchObjectException;
import java.rmi.registry.LocateRegistry;
import java.rmi.registry.Registry;
import java.rmi.server.UnicastRemoteObject;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.management.InstanceAlreadyExistsException;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;
import javax.management.remote.JMXConnectorServer;
import javax.management.remote.JMXServiceURL;
import javax.management.remote.rmi.RMIConnectorServer;
import javax.management.remote.rmi.RMIJRMPServerImpl;

/**
 * The daemon's JMX face: the Daemon and Image MXBeans on the platform MBean server (so jconsole
 * also shows heap and threads) and a remote RMI connector that jconsole and jmxterm reach as
 * {@code HOST:PORT}, with the RMI registry and the connector on that one port, bound to HOST
 * only, authenticated with the JDK's password and access file formats. Logins other than a
 * {@code String[]} and call arguments outside {@link SerialFilter} are refused before they are
 * deserialized, and {@link JmxLockdown} refuses every client what would run code as the daemon.
 *
 * <p>One agent per JVM at a time: an RMI registry has a fixed object id, and so has the daemon
 * bean's name (so do not also start the JDK's own -Dcom.sun.management.jmxremote.port agent).
 */
public final class JmxAgent implements AutoCloseable {
    /** Poll period for Dirty/Health changes: the engine has no listeners. */
    static final long POLL_MILLIS = 250;

    public static final String DAEMON_OBJECT_NAME = "qjournal:type=Daemon";

    /**
     * The JDK's connector logs a multi-line, timestamped WARNING when a client's request races
     * its connection being closed (e.g. a jconsole left open at shutdown): noise in a daemon's
     * one-line-per-event log. Held here so the setting is not garbage-collected with the logger.
     */
    private static final java.util.logging.Logger JMX_REMOTE_MISC =
            java.util.logging.Logger.getLogger("javax.management.remote.misc");

    /**
     * Where and how to listen. {@code port} 0 picks a free port. Without {@code noAuth} a
     * password file is required; the access file is optional (absent: every authenticated
     * user may read and write). {@code noAuth} is accepted only with a loopback host.
     */
    public record Config(String host, int port, Path passwordFile, Path accessFile, boolean noAuth) {}

    private final MBeanServer server;
    private final ObjectName daemonName;
    private final String address;
    private final JMXServiceURL serviceUrl;
    private final Map<String, ImageBean> images = new ConcurrentHashMap<>();
    private Registry registry;
    private JMXConnectorServer connector;
    private ScheduledExecutorService poller;
    private volatile boolean closed;
    private boolean daemonRegistered;

    private JmxAgent(MBeanServer server, ObjectName daemonName, String address, JMXServiceURL serviceUrl) {
        this.server = server;
        this.daemonName = daemonName;
        this.address = address;
        this.serviceUrl = serviceUrl;
    }

    /**
     * Validates the config, registers the daemon bean, and starts the RMI registry and
     * connector server on the one port. Every refusal is an IOException with a one-line
     * message: a password file readable by group or others is refused as the JDK does
     * ("PATH: password file must be readable only by its owner"), noAuth with a non-loopback
     * host, a port in use.
     */
    public static JmxAgent start(Config config, ManagedDaemon daemon) throws IOException {
        if (config == null || daemon == null) {
            throw new IllegalArgumentException("JMX agent needs a config and a daemon");
        }
        InetAddress host = checkConfig(config);
        JMX_REMOTE_MISC.setLevel(java.util.logging.Level.SEVERE);
        // Stubs carry the host clients must call back; without this RMI names whatever
        // InetAddress.getLocalHost() says, which we may not even listen on. An operator's own
        // -Djava.rmi.server.hostname (e.g. behind NAT) wins.
        if (!host.isAnyLocalAddress() && System.getProperty("java.rmi.server.hostname") == null) {
            System.setProperty("java.rmi.server.hostname", host.getHostAddress());
        }
        HostBoundSocketFactory ssf = new HostBoundSocketFactory(host);
        Registry registry = null;
        int port = config.port();
        // Port 0: RMI never closes a listening socket it opened for an anonymous port, so a
        // closed agent would keep it; take a free port ourselves and export on it explicitly.
        // Another process may grab it in between: try a few.
        for (int attempt = 0; registry == null; attempt++) {
            if (config.port() == 0) {
                port = freePort(host);
            }
            try {
                registry = LocateRegistry.createRegistry(port, null, ssf);
            } catch (IOException e) {
                if (config.port() != 0 || attempt >= 4) {
                    throw new IOException("JMX: cannot listen on " + hostPort(config.host(), config.port()) + ": "
                            + rootMessage(e));
                }
            }
        }
        JmxAgent agent = null;
        try {
            String hostPort = hostPort(host.getHostAddress(), port);
            JMXServiceURL clientUrl = new JMXServiceURL("service:jmx:rmi:///jndi/rmi://" + hostPort + "/jmxrmi");
            MBeanServer mbs = ManagementFactory.getPlatformMBeanServer();
            agent = new JmxAgent(mbs, objectName(DAEMON_OBJECT_NAME), hostPort, clientUrl);
            agent.registry = registry;
            agent.registerDaemon(daemon);
            Map<String, Object> env = new HashMap<>();
            if (!config.noAuth()) {
                env.put("jmx.remote.x.password.file", config.passwordFile().toString());
                if (config.accessFile() != null) {
                    env.put("jmx.remote.x.access.file", config.accessFile().toString());
                }
            }
            // As the JDK's own agent: only a String[] login reaches the authenticator, and each
            // call's arguments pass the daemon's filter (also JVM-wide when bin/qjournald starts it).
            env.put(RMIConnectorServer.CREDENTIALS_FILTER_PATTERN, SerialFilter.CREDENTIALS);
            env.put(RMIConnectorServer.SERIAL_FILTER_PATTERN, SerialFilter.pattern());
            // As the JDK's own agent does: export the server object on our port ourselves and put
            // its stub into the registry by a local call. A JNDI bind would go over the network
            // and could reuse a cached RMI connection to an earlier agent on the same port.
            RMIJRMPServerImpl rmiServer = new RMIJRMPServerImpl(port, null, ssf, env);
            agent.connector = new RMIConnectorServer(new JMXServiceURL("rmi", host.getHostAddress(), port),
                    env, rmiServer, mbs);
            // Before start(): the access-file controller start() adds goes in front of it.
            agent.connector.setMBeanServerForwarder(JmxLockdown.forwarder());
            try {
                agent.connector.start();
                registry.rebind("jmxrmi", rmiServer.toStub());
            } catch (IllegalArgumentException e) {
                // The JDK reports an unparsable access file this way.
                throw new IOException(config.accessFile() + ": " + rootMessage(e));
            } catch (IOException e) {
                throw new IOException("JMX: cannot start the connector on " + hostPort + ": " + rootMessage(e));
            }
            agent.poller = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "qjournal-jmx-poll");
                t.setDaemon(true);
                return t;
            });
            agent.poller.scheduleWithFixedDelay(agent::pollAll, POLL_MILLIS, POLL_MILLIS, TimeUnit.MILLISECONDS);
            return agent;
        } catch (IOException | RuntimeException e) {
            if (agent != null) {
                agent.close();
            } else {
                unexport(registry);
            }
            throw e;
        }
    }

    private static InetAddress checkConfig(Config config) throws IOException {
        if (config.host() == null || config.host().isBlank()) {
            throw new IOException("JMX: no listen address given");
        }
        if (config.port() < 0 || config.port() > 65535) {
            throw new IOException("JMX: port " + config.port() + " out of range 0-65535");
        }
        InetAddress host;
        try {
            host = InetAddress.getByName(config.host());
        } catch (UnknownHostException e) {
            throw new IOException("JMX: unknown host " + config.host());
        }
        if (config.noAuth()) {
            if (!host.isLoopbackAddress()) {
                throw new IOException("JMX: authentication can be turned off only on a loopback address, not "
                        + config.host());
            }
            return host;
        }
        Path pw = config.passwordFile();
        if (pw == null) {
            throw new IOException("JMX: authentication needs a password file"
                    + " (or no authentication on a loopback address)");
        }
        // The same rules --check-config and the daemon's start apply before any image opens.
        JmxFiles.checkPasswordFile(pw);
        if (config.accessFile() != null) {
            JmxFiles.checkAccessFile(config.accessFile());
        }
        return host;
    }

    private void registerDaemon(ManagedDaemon daemon) throws IOException {
        DaemonBean bean = new DaemonBean(daemon);
        try {
            server.registerMBean(new DescribedMBean<>(bean, DaemonMXBean.class,
                    new javax.management.NotificationBroadcasterSupport(), "The qjournald daemon",
                    DaemonBean.DESCRIPTIONS, DaemonBean.PARAMETER_NAMES), daemonName);
            daemonRegistered = true;
        } catch (InstanceAlreadyExistsException e) {
            throw new IOException("JMX: " + DAEMON_OBJECT_NAME + " is already registered in this JVM");
        } catch (JMException e) {
            throw new IllegalStateException("JMX: cannot register " + DAEMON_OBJECT_NAME + ": " + e.getMessage(), e);
        }
    }

    /** The ObjectName of an image's bean: {@code qjournal:type=Image,name=NAME}, quoted if needed. */
    public static ObjectName imageObjectName(String name) {
        boolean special = name.isEmpty() || !name.equals(name.strip());
        for (int i = 0; i < name.length() && !special; i++) {
            special = ",=:\"*?\\\n".indexOf(name.charAt(i)) >= 0;
        }
        return objectName("qjournal:type=Image,name=" + (special ? ObjectName.quote(name) : name));
    }

    private static ObjectName objectName(String s) {
        try {
            return new ObjectName(s);
        } catch (MalformedObjectNameException e) {
            throw new IllegalArgumentException("bad JMX name " + s + ": " + e.getMessage(), e);
        }
    }

    /**
     * Registers the Image bean of an open image. Does nothing once the agent is closed (an
     * image opened while the daemon shuts down).
     *
     * @throws IllegalStateException if an image of that name is registered already
     */
    public synchronized void register(ManagedImage image) {
        if (closed) {
            return;
        }
        String name = image.name();
        ObjectName on = imageObjectName(name);
        ImageBean bean = new ImageBean(image, on, () -> unregister(name));
        if (images.putIfAbsent(name, bean) != null) {
            throw new IllegalStateException("JMX: image " + name + " is already registered");
        }
        try {
            server.registerMBean(new DescribedMBean<>(bean, ImageMXBean.class, bean.emitter(),
                    "A qcow2 image served by qjournald", ImageBean.DESCRIPTIONS, Map.of()), on);
        } catch (JMException e) {
            images.remove(name, bean);
            throw new IllegalStateException("JMX: cannot register " + on + ": " + e.getMessage(), e);
        }
    }

    /** Removes an image's bean; does nothing if it is not registered. */
    public synchronized void unregister(String name) {
        ImageBean bean = images.remove(name);
        if (bean != null) {
            try {
                server.unregisterMBean(imageObjectName(name));
            } catch (JMException e) {
                // already gone: nothing to undo
            }
        }
    }

    /** Re-reads Dirty and Health of an image now and notifies on change (after an operation). */
    public void refresh(String name) {
        ImageBean bean = images.get(name);
        if (bean != null) {
            bean.poll();
        }
    }

    private void pollAll() {
        for (ImageBean bean : images.values()) {
            try {
                bean.poll();
            } catch (RuntimeException e) {
                // One image's bad getter must not stop the notifications of the others.
            }
        }
    }

    /** "HOST:PORT" that jconsole and jmxterm use (the actual port when started with 0). */
    public String address() {
        return address;
    }

    /** {@code service:jmx:rmi:///jndi/rmi://HOST:PORT/jmxrmi}, for JMXConnectorFactory. */
    public JMXServiceURL serviceUrl() {
        return serviceUrl;
    }

    /** Stops the connector and the registry (freeing the port) and unregisters every bean. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (poller != null) {
            poller.shutdownNow();
        }
        if (connector != null) {
            try {
                connector.stop();
            } catch (IOException e) {
                // stopping anyway; clients see their connection end
            }
        }
        if (registry != null) {
            unexport(registry);
        }
        for (String name : images.keySet()) {
            unregister(name);
        }
        if (daemonRegistered) {
            try {
                server.unregisterMBean(daemonName);
            } catch (JMException e) {
                // already gone
            }
        }
    }

    private static int freePort(InetAddress host) throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, host)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new IOException("JMX: cannot listen on " + host.getHostAddress() + ": " + rootMessage(e));
        }
    }

    private static void unexport(Registry registry) {
        try {
            UnicastRemoteObject.unexportObject(registry, true);
        } catch (NoSuchObjectException e) {
            // not exported: nothing to free
        }
    }

    private static String hostPort(String host, int port) {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
    }
}
