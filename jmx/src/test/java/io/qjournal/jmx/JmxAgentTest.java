package io.qjournal.jmx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.rmi.registry.LocateRegistry;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.management.Attribute;
import javax.management.AttributeChangeNotification;
import javax.management.MBeanException;
import javax.management.MBeanInfo;
import javax.management.MBeanServerConnection;
import javax.management.Notification;
import javax.management.ObjectName;
import javax.management.RuntimeMBeanException;
import javax.management.remote.JMXConnector;
import javax.management.remote.rmi.RMIConnection;
import javax.management.remote.rmi.RMIServer;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.testsupport.FaultyStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent in this JVM, reached through its real remote RMI connector. */
class JmxAgentTest {
    @TempDir
    Path dir;

    @Test
    void passwordFileReadableByOthersIsRefused() throws Exception {
        try (JmxFixture f = new JmxFixture(dir)) {
            for (String mode : List.of("rw-r--r--", "rw-r-----", "rw----r--")) {
                Files.setPosixFilePermissions(f.passwordFile, PosixFilePermissions.fromString(mode));
                IOException e = assertThrows(IOException.class, () -> JmxAgent.start(f.config(), f.daemon), mode);
                assertTrue(e.getMessage().startsWith(f.passwordFile + ": password file must be readable only by its owner (it has mode 0"),
                        e.getMessage());
            }
            assertFalse(registered(JmxAgent.DAEMON_OBJECT_NAME), "a refused start leaves no bean behind");
        }
    }

    @Test
    void noAuthOnlyOnLoopback() throws Exception {
        EngineDaemon d = new EngineDaemon();
        for (String host : List.of("192.0.2.1", "0.0.0.0")) {
            IOException e = assertThrows(IOException.class,
                    () -> JmxAgent.start(new JmxAgent.Config(host, 0, null, null, true), d));
            assertTrue(e.getMessage().contains("loopback") && e.getMessage().contains(host), e.getMessage());
        }
        // On loopback it is allowed, and a client needs no credentials.
        try (JmxAgent agent = JmxAgent.start(new JmxAgent.Config("127.0.0.1", 0, null, null, true), d);
                JMXConnector c = javax.management.remote.JMXConnectorFactory.connect(agent.serviceUrl())) {
            assertEquals("test", c.getMBeanServerConnection()
                    .getAttribute(new ObjectName(JmxAgent.DAEMON_OBJECT_NAME), "Version"));
        }
    }

    @Test
    void authenticationNeedsAReadablePasswordFile() throws Exception {
        EngineDaemon d = new EngineDaemon();
        IOException none = assertThrows(IOException.class,
                () -> JmxAgent.start(new JmxAgent.Config("127.0.0.1", 0, null, null, false), d));
        assertTrue(none.getMessage().contains("password file"), none.getMessage());
        Path missing = dir.resolve("missing");
        IOException gone = assertThrows(IOException.class,
                () -> JmxAgent.start(new JmxAgent.Config("127.0.0.1", 0, missing, null, false), d));
        assertEquals(missing + ": password file does not exist", gone.getMessage());
    }

    @Test
    void wrongPasswordAndUnknownUserAreRefused() throws Exception {
        try (JmxFixture f = new JmxFixture(dir).start()) {
            assertThrows(SecurityException.class, () -> f.connect(JmxFixture.ADMIN, "wrong"));
            assertThrows(SecurityException.class, () -> f.connect("nobody", JmxFixture.ADMIN_PASSWORD));
            try (JMXConnector c = f.connect(JmxFixture.ADMIN, JmxFixture.ADMIN_PASSWORD)) {
                assertNotNull(c.getConnectionId());
            }
        }
    }

    @Test
    void registryAndConnectorShareTheOnePortOnTheHost() throws Exception {
        try (JmxFixture f = new JmxFixture(dir).start()) {
            int port = f.port();
            assertTrue(port > 0);
            // The stub clients get from the registry must call back to HOST:PORT, nothing else.
            Object stub = LocateRegistry.getRegistry("127.0.0.1", port).lookup("jmxrmi");
            assertTrue(stub.toString().contains("127.0.0.1:" + port), stub.toString());
            // And each client's connection object too: every RMI object is on the one port.
            RMIConnection conn = ((RMIServer) stub).newClient(new String[] {JmxFixture.ADMIN, JmxFixture.ADMIN_PASSWORD});
            try {
                assertTrue(conn.toString().contains("127.0.0.1:" + port), conn.toString());
                assertTrue(conn.getMBeanCount(null) > 0);
            } finally {
                conn.close();
            }
            // Bound to the host only: another local address finds nothing on that port.
            InetAddress other = InetAddress.getByName("127.0.0.2");
            try (java.net.Socket s = new java.net.Socket()) {
                assertThrows(IOException.class, () -> s.connect(new InetSocketAddress(other, port), 2000));
            }
        }
    }

    private static void bindWithin(int port, long millis) throws Exception {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        while (true) {
            try (ServerSocket s = new ServerSocket()) {
                s.bind(new InetSocketAddress("127.0.0.1", port));
                return;
            } catch (java.net.BindException e) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("port " + port + " still in use " + millis + " ms after close()", e);
                }
                Thread.sleep(50);
            }
        }
    }

    @Test
    void closeFreesThePortAndTheBeans() throws Exception {
        int port;
        try (JmxFixture f = new JmxFixture(dir).start()) {
            f.open("vm1");
            port = f.port();
            assertTrue(registered("qjournal:type=Image,name=vm1"));
            f.agent.close();
            assertFalse(registered("qjournal:type=Image,name=vm1"));
            assertFalse(registered(JmxAgent.DAEMON_OBJECT_NAME));
        }
        // RMI closes its listening socket on its own thread once the last object is unexported:
        // the port must come free, if not at the very instant close() returns.
        bindWithin(port, 10_000);
        // The same port again, now given explicitly.
        try (JmxAgent again = JmxAgent.start(new JmxAgent.Config("127.0.0.1", port, null, null, true),
                new EngineDaemon())) {
            assertEquals("127.0.0.1:" + port, again.address());
        }
    }

    @Test
    void portInUseIsAClearError() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            int port = taken.getLocalPort();
            IOException e = assertThrows(IOException.class, () -> JmxAgent.start(
                    new JmxAgent.Config("127.0.0.1", port, null, null, true), new EngineDaemon()));
            assertTrue(e.getMessage().startsWith("JMX: cannot listen on 127.0.0.1:" + port), e.getMessage());
            assertFalse(registered(JmxAgent.DAEMON_OBJECT_NAME));
        }
    }

    @Test
    void dirtyChangesArriveAsAttributeChangeNotifications() throws Exception {
        try (JmxFixture f = new JmxFixture(dir).start()) {
            EngineImage img = f.open("vm1");
            ObjectName on = new ObjectName("qjournal:type=Image,name=vm1");
            try (JMXConnector c = f.connect(JmxFixture.ADMIN, JmxFixture.ADMIN_PASSWORD)) {
                MBeanServerConnection mbs = c.getMBeanServerConnection();
                BlockingQueue<Notification> got = new LinkedBlockingQueue<>();
                mbs.addNotificationListener(on, (n, h) -> got.add(n), null, null);

                boolean dirtyAtOpen = (Boolean) mbs.getAttribute(on, "Dirty");
                mbs.invoke(on, "forceSync", null, null);
                assertEquals(false, mbs.getAttribute(on, "Dirty"));
                if (dirtyAtOpen) {
                    // A fresh journal may start dirty: then the sync itself notifies true -> false.
                    AttributeChangeNotification first = nextDirty(got);
                    assertNotNull(first, "no Dirty notification after forceSync");
                    assertEquals(true, first.getOldValue());
                    assertEquals(false, first.getNewValue());
                }

                img.write(1 << 20, new byte[4096]);
                assertTrue(img.dirty(), "a write to a fresh cluster allocates: metadata dirty");
                AttributeChangeNotification up = nextDirty(got);
                assertNotNull(up, "no Dirty notification after a write");
                assertEquals("Dirty", up.getAttributeName());
                assertEquals(false, up.getOldValue());
                assertEquals(true, up.getNewValue());
                assertEquals("boolean", up.getAttributeType());
                assertEquals(on, up.getSource());

                mbs.invoke(on, "forceSync", null, null);
                AttributeChangeNotification down = nextDirty(got);
                assertNotNull(down, "no Dirty notification after forceSync");
                assertEquals(true, down.getOldValue());
                assertEquals(false, down.getNewValue());
                assertTrue(down.getSequenceNumber() > up.getSequenceNumber());
            }
        }
    }

    private static AttributeChangeNotification nextDirty(BlockingQueue<Notification> q) throws InterruptedException {
        return next(q, "Dirty");
    }

    private static AttributeChangeNotification next(BlockingQueue<Notification> q, String attribute)
            throws InterruptedException {
        // Generous bound: notifications are pushed by a poller every 250 ms; this only stops a hang.
        Notification n = q.poll(20, TimeUnit.SECONDS);
        while (n != null && !(n instanceof AttributeChangeNotification
                && ((AttributeChangeNotification) n).getAttributeName().equals(attribute))) {
            n = q.poll(20, TimeUnit.SECONDS);
        }
        return (AttributeChangeNotification) n;
    }

    @Test
    void anIoErrorTurnsHealthToFailedAndNotifies() throws Exception {
        try (JmxFixture f = new JmxFixture(dir).start()) {
            Path file = f.createImage("bad");
            FaultyStorage storage = new FaultyStorage(FileStorage.open(file, true));
            EngineImage bad = EngineImage.open("bad", file, storage, img -> f.agent.unregister(img.name()));
            f.agent.register(bad);
            EngineImage good = f.open("good");
            ObjectName on = JmxAgent.imageObjectName("bad");
            try (JMXConnector c = f.connect(JmxFixture.ADMIN, JmxFixture.ADMIN_PASSWORD)) {
                MBeanServerConnection mbs = c.getMBeanServerConnection();
                assertEquals("OK", mbs.getAttribute(on, "Health"));
                BlockingQueue<Notification> got = new LinkedBlockingQueue<>();
                mbs.addNotificationListener(on, (n, h) -> got.add(n), null, null);

                // The first write also creates the journal (with its flushes); the disk dies after it.
                bad.write(0, new byte[4096]);
                storage.failFromNth("disk gone", FaultyStorage.Target.FLUSH, 1, FaultyStorage.Kind.EIO);
                MBeanException e = assertThrows(MBeanException.class, () -> mbs.invoke(on, "forceSync", null, null));
                assertEquals(IOException.class, e.getCause().getClass());
                assertTrue(e.getCause().getMessage().startsWith("bad: "), e.getCause().getMessage());

                AttributeChangeNotification h = next(got, "Health");
                assertNotNull(h, "no Health notification after an I/O error");
                assertEquals("OK", h.getOldValue());
                assertTrue(((String) h.getNewValue()).startsWith("FAILED: "), (String) h.getNewValue());
                assertEquals(h.getNewValue(), mbs.getAttribute(on, "Health"));
                // The other image is untouched.
                assertEquals("OK", mbs.getAttribute(JmxAgent.imageObjectName("good"), "Health"));
                good.write(0, new byte[4096]);
                mbs.invoke(JmxAgent.imageObjectName("good"), "forceSync", null, null);
            } finally {
                try {
                    bad.image.close();
                } catch (IOException expected) {
                    // a failed image may refuse a clean close
                }
                storage.close();
            }
        }
    }

    @Test
    void badValuesAreRefusedWithTheirMessageAndChangeNothing() throws Exception {
        try (JmxFixture f = new JmxFixture(dir).start()) {
            EngineImage img = f.open("vm1");
            ObjectName on = JmxAgent.imageObjectName("vm1");
            try (JMXConnector c = f.connect(JmxFixture.ADMIN, JmxFixture.ADMIN_PASSWORD)) {
                MBeanServerConnection mbs = c.getMBeanServerConnection();
                mbs.setAttribute(on, new Attribute("CommitIntervalMillis", 750L));
                assertEquals(750, img.image.journalOptions().commitInterval().toMillis());
                mbs.setAttribute(on, new Attribute("CommitDataSize", 65536L));
                assertEquals(65536, img.image.journalOptions().commitDatasize());

                for (long bad : new long[] {0, -1, Long.MIN_VALUE}) {
                    RuntimeMBeanException e = assertThrows(RuntimeMBeanException.class,
                            () -> mbs.setAttribute(on, new Attribute("CommitIntervalMillis", bad)));
                    assertEquals(IllegalArgumentException.class, e.getCause().getClass());
                    assertEquals("vm1: commit interval must be at least 1 ms, not " + bad + " ms", e.getCause().getMessage());
                }
                RuntimeMBeanException e = assertThrows(RuntimeMBeanException.class,
                        () -> mbs.setAttribute(on, new Attribute("CommitDataSize", -5L)));
                assertEquals("vm1: commit data size must not be negative, not -5", e.getCause().getMessage());
                assertEquals(750L, mbs.getAttribute(on, "CommitIntervalMillis"));
                assertEquals(65536L, mbs.getAttribute(on, "CommitDataSize"));
                assertEquals(750, img.image.journalOptions().commitInterval().toMillis());
            }
        }
    }

    @Test
    void daemonErrorsReachClientsAsPlainJdkExceptions() throws Exception {
        try (JmxFixture f = new JmxFixture(dir).start()) {
            ObjectName daemon = new ObjectName(JmxAgent.DAEMON_OBJECT_NAME);
            Path missing = dir.resolve("nope.qcow2");
            try (JMXConnector c = f.connect(JmxFixture.ADMIN, JmxFixture.ADMIN_PASSWORD)) {
                MBeanServerConnection mbs = c.getMBeanServerConnection();
                MBeanException e = assertThrows(MBeanException.class, () -> mbs.invoke(daemon, "openImage",
                        new Object[] {"vm9", missing.toString()}, new String[] {"java.lang.String", "java.lang.String"}));
                // jmxterm and jconsole lack the engine's classes: only java.* may cross.
                for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
                    assertTrue(t.getClass().getName().startsWith("java."), t.getClass().getName());
                }
                assertTrue(e.getCause().getMessage().startsWith("vm9: "), e.getCause().getMessage());
                assertTrue(e.getCause().getMessage().contains(missing.toString()), e.getCause().getMessage());

                Path p = f.createImage("vm2");
                mbs.invoke(daemon, "openImage", new Object[] {"vm2", p.toString()},
                        new String[] {"java.lang.String", "java.lang.String"});
                assertEquals(List.of("vm2"), Arrays.asList((String[]) mbs.getAttribute(daemon, "Images")));
                assertEquals(64L << 20, mbs.getAttribute(JmxAgent.imageObjectName("vm2"), "VirtualSize"));
                // The image's own close() operation takes its bean away.
                mbs.invoke(JmxAgent.imageObjectName("vm2"), "close", null, null);
                assertFalse(mbs.isRegistered(JmxAgent.imageObjectName("vm2")));
                assertTrue(f.daemon.images.isEmpty());
            }
        }
    }

    @Test
    void beansDescribeThemselvesAndDeclareTheirNotifications() throws Exception {
        try (JmxFixture f = new JmxFixture(dir).start()) {
            f.open("vm1");
            MBeanInfo info = ManagementFactory.getPlatformMBeanServer().getMBeanInfo(JmxAgent.imageObjectName("vm1"));
            List<String> attrs = Arrays.stream(info.getAttributes()).map(a -> a.getName()).sorted().toList();
            assertEquals(List.of("BytesRead", "BytesWritten", "Clients", "CommitDataSize", "CommitIntervalMillis",
                    "CommittedSequence", "Dirty", "Flushes", "Health", "JournalEnabled", "JournalFill", "JournalSize",
                    "Path", "PendingTransactions", "ReadOnly", "ReplayedAtOpen", "SyncedSequence", "Syncs",
                    "VirtualSize"), attrs);
            for (var a : info.getAttributes()) {
                assertEquals(a.getName().equals("CommitIntervalMillis") || a.getName().equals("CommitDataSize"),
                        a.isWritable(), a.getName());
                assertEquals(ImageBean.DESCRIPTIONS.get(a.getName()), a.getDescription());
            }
            List<String> ops = Arrays.stream(info.getOperations()).map(o -> o.getName()).sorted().toList();
            assertEquals(List.of("close", "commit", "forceSync"), ops);
            assertEquals(1, info.getNotifications().length);
            assertEquals(AttributeChangeNotification.ATTRIBUTE_CHANGE, info.getNotifications()[0].getNotifTypes()[0]);

            MBeanInfo d = ManagementFactory.getPlatformMBeanServer().getMBeanInfo(new ObjectName(JmxAgent.DAEMON_OBJECT_NAME));
            var open = Arrays.stream(d.getOperations()).filter(o -> o.getName().equals("openImage")).findFirst().get();
            assertEquals("name", open.getSignature()[0].getName());
            assertEquals("path", open.getSignature()[1].getName());
        }
    }

    @Test
    void imageNamesWithSpecialCharactersAreQuoted() throws Exception {
        assertEquals("qjournal:type=Image,name=vm-1.disk_0", JmxAgent.imageObjectName("vm-1.disk_0").toString());
        for (String name : List.of("a,b", "x=y", "c:d", "q\"", "star*", " pad")) {
            ObjectName on = JmxAgent.imageObjectName(name);
            assertEquals(name, ObjectName.unquote(on.getKeyProperty("name")), name);
        }
        try (JmxFixture f = new JmxFixture(dir).start()) {
            f.open("odd,name");
            assertTrue(registered(JmxAgent.imageObjectName("odd,name").toString()));
            assertThrows(IllegalStateException.class, () -> f.agent.register(f.daemon.images.get("odd,name")));
        }
    }

    private static boolean registered(String name) throws Exception {
        return ManagementFactory.getPlatformMBeanServer().isRegistered(new ObjectName(name));
    }
}
