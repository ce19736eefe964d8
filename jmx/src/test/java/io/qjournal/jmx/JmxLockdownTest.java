package io.qjournal.jmx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.io.File;
import java.lang.management.ManagementFactory;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.management.Attribute;
import javax.management.AttributeChangeNotification;
import javax.management.AttributeChangeNotificationFilter;
import javax.management.AttributeList;
import javax.management.MBeanServerDelegate;
import javax.management.MBeanServerConnection;
import javax.management.Notification;
import javax.management.ObjectName;
import javax.management.Query;
import javax.management.QueryExp;
import javax.management.relation.MBeanServerNotificationFilter;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXPrincipal;
import javax.security.auth.Subject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The connector's lockdown through its real remote RMI connector: what is refused before it is
 * deserialized, what is refused to every user, and what each role may still do.
 */
class JmxLockdownTest {
    private static final ObjectName DAEMON = on(JmxAgent.DAEMON_OBJECT_NAME);
    private static final ObjectName MAPPED_POOL = on("java.nio:type=BufferPool,name=mapped");
    private static final ObjectName MEMORY = on("java.lang:type=Memory");
    private static final ObjectName FLIGHT_RECORDER = on("jdk.management.jfr:type=FlightRecorder");
    private static final String[] STRING_STRING = {"java.lang.String", "java.lang.String"};

    @TempDir
    Path dir;

    interface ClientCheck {
        void check(String who, MBeanServerConnection mbs, JmxFixture f) throws Exception;
    }

    /**
     * Runs {@code check} as each kind of client that may write: a user without an access file
     * (readwrite by default), a user whose access file line grants create and unregister, and a
     * --jmx-no-auth connection. Each against its own agent, with image vm1 open.
     */
    private void asEveryWriter(ClientCheck check) throws Exception {
        for (String who : List.of("no access file", "access file grants create+unregister", "--jmx-no-auth")) {
            Path sub = Files.createDirectories(dir.resolve(who.replaceAll("\\W", "_")));
            try (JmxFixture f = new JmxFixture(sub)) {
                Object login = new String[] {JmxFixture.ADMIN, JmxFixture.ADMIN_PASSWORD};
                JmxAgent.Config c = f.config();
                if (who.startsWith("no access")) {
                    c = new JmxAgent.Config(c.host(), 0, c.passwordFile(), null, false);
                } else if (who.startsWith("access")) {
                    Files.writeString(f.accessFile, JmxFixture.ADMIN
                            + " readwrite create javax.management.loading.MLet,java.lang.Object unregister\n");
                } else {
                    c = new JmxAgent.Config(c.host(), 0, null, null, true);
                    login = null;
                }
                f.start(c);
                f.open("vm1");
                try (JMXConnector conn = f.connectWith(login)) {
                    check.check(who, conn.getMBeanServerConnection(), f);
                }
            }
        }
    }

    @Test
    void aLoginThatIsNotAStringArrayIsRefusedBeforeTheAuthenticatorSeesIt() throws Exception {
        try (JmxFixture f = new JmxFixture(dir).start()) {
            // Today's JDK authenticator would answer "Credentials should be String[] instead of
            // javax.management.ObjectName": only the filter's refusal proves it never saw it.
            Exception e = assertThrows(Exception.class, () -> f.connectWith(new ObjectName("x:type=Login")));
            String chain = chain(e);
            assertTrue(chain.contains("filter status: REJECTED"), chain);
            assertFalse(chain.contains("Credentials should be"), chain);
            // A bigger array than user and password is refused the same way.
            String tooMany = chain(assertThrows(Exception.class, () -> f.connectWith(new String[] {"a", "b", "c"})));
            assertTrue(tooMany.contains("filter status: REJECTED"), tooMany);
            try (JMXConnector ok = f.connect(JmxFixture.ADMIN, JmxFixture.ADMIN_PASSWORD)) {
                assertEquals("test", ok.getMBeanServerConnection().getAttribute(DAEMON, "Version"));
            }
        }
    }

    @Test
    void callArgumentsOutsideTheSerialFilterAreRefusedUndeserialized() throws Exception {
        try (JmxFixture f = new JmxFixture(dir).start();
                JMXConnector c = f.connect(JmxFixture.VIEWER, JmxFixture.VIEWER_PASSWORD)) {
            MBeanServerConnection mbs = c.getMBeanServerConnection();
            String file = chain(assertThrows(Exception.class, () -> mbs.invoke(DAEMON, "openImage",
                    new Object[] {"vm9", new File("/tmp/x")}, STRING_STRING)));
            assertTrue(file.contains("filter status: REJECTED"), file);
            // Subject delegation: a readonly user asking to act as admin is not even read.
            Subject admin = new Subject(true, Set.of(new JMXPrincipal(JmxFixture.ADMIN)), Set.of(), Set.of());
            MBeanServerConnection asAdmin = c.getMBeanServerConnection(admin);
            String delegated = chain(assertThrows(Exception.class,
                    () -> asAdmin.setAttribute(JmxAgent.imageObjectName("vm1"), new Attribute("CommitIntervalMillis", 1L))));
            assertTrue(delegated.contains("filter status: REJECTED"), delegated);
            assertEquals("test", mbs.getAttribute(DAEMON, "Version"));
        }
    }

    @Test
    void whatOrdinaryClientsSendPassesTheFilter() throws Exception {
        try (JmxFixture f = new JmxFixture(dir).start();
                JMXConnector c = f.connect(JmxFixture.ADMIN, JmxFixture.ADMIN_PASSWORD)) {
            EngineImage vm1 = f.open("vm1");
            MBeanServerConnection mbs = c.getMBeanServerConnection();
            ObjectName on = JmxAgent.imageObjectName("vm1");
            // jconsole's kinds of calls: queries, filtered subscriptions, attribute lists.
            QueryExp healthy = Query.and(Query.isInstanceOf(Query.value(DescribedMBean.class.getName())),
                    Query.eq(Query.attr("Health"), Query.value("OK")));
            assertEquals(Set.of(on), mbs.queryNames(on("qjournal:type=Image,*"), healthy));
            MBeanServerNotificationFilter registrations = new MBeanServerNotificationFilter();
            registrations.enableAllObjectNames();
            BlockingQueue<Notification> got = new LinkedBlockingQueue<>();
            mbs.addNotificationListener(MBeanServerDelegate.DELEGATE_NAME, (n, h) -> got.add(n), registrations, "hb");
            AttributeChangeNotificationFilter dirtyOnly = new AttributeChangeNotificationFilter();
            dirtyOnly.enableAttribute("Dirty");
            mbs.addNotificationListener(on, (n, h) -> got.add(n), dirtyOnly, List.of(1L, 2.5, BigDecimal.ONE));
            AttributeList set = new AttributeList(List.of(new Attribute("CommitIntervalMillis", 900L),
                    new Attribute("CommitDataSize", 4096L)));
            assertEquals(2, mbs.setAttributes(on, set).size());
            assertEquals(900L, mbs.getAttributes(on, new String[] {"CommitIntervalMillis"}).asList().get(0).getValue());
            vm1.forceSync();
            f.agent.refresh("vm1");
            got.clear();
            vm1.write(2 << 20, new byte[4096]);
            assertTrue(dirtyBecomes(got, true), "no Dirty notification through the filter");
        }
    }

    @Test
    void creatingOrUnregisteringMBeansIsRefusedToEveryUser() throws Exception {
        asEveryWriter((who, mbs, f) -> {
            ObjectName mlet = on("qjournal-test:type=MLet");
            SecurityException create = assertThrows(SecurityException.class,
                    () -> mbs.createMBean("javax.management.loading.MLet", mlet), who);
            assertEquals("createMBean(javax.management.loading.MLet) is refused: qjournald's MBeans are made by the"
                    + " daemon itself; a remote one (e.g. an MLet) could load code into it", create.getMessage(), who);
            assertFalse(registered(mlet), who);
            assertThrows(SecurityException.class, () -> mbs.createMBean("javax.management.timer.Timer",
                    on("qjournal-test:type=Timer"), MEMORY), who);

            for (ObjectName name : List.of(MAPPED_POOL, JmxAgent.imageObjectName("vm1"))) {
                SecurityException gone = assertThrows(SecurityException.class, () -> mbs.unregisterMBean(name), who);
                assertTrue(gone.getMessage().startsWith("unregisterMBean(" + name + ") is refused: "), gone.getMessage());
                assertTrue(registered(name), who + ": " + name);
            }
        });
    }

    @Test
    void diagnosticCommandsVmFlagsHeapDumpsAndRecordingsAreRefusedToEveryUser() throws Exception {
        HotSpotDiagnosticMXBean hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
        String concurrentLocks = hotspot.getVMOption("PrintConcurrentLocks").getValue();
        asEveryWriter((who, mbs, f) -> {
            SecurityException dcmd = assertThrows(SecurityException.class, () -> mbs.invoke(JmxLockdown.DIAGNOSTIC_COMMAND,
                    "vmVersion", new Object[] {new String[0]}, new String[] {String[].class.getName()}), who);
            assertEquals("com.sun.management:type=DiagnosticCommand vmVersion is refused: diagnostic commands can"
                    + " load agents and change the JVM as the daemon's user", dcmd.getMessage(), who);

            String flipped = String.valueOf(!Boolean.parseBoolean(concurrentLocks));
            SecurityException flag = assertThrows(SecurityException.class, () -> mbs.invoke(JmxLockdown.HOTSPOT_DIAGNOSTIC,
                    "setVMOption", new Object[] {"PrintConcurrentLocks", flipped}, STRING_STRING), who);
            assertEquals("com.sun.management:type=HotSpotDiagnostic setVMOption is refused: it changes the running"
                    + " daemon's JVM flags", flag.getMessage(), who);
            assertEquals(concurrentLocks, hotspot.getVMOption("PrintConcurrentLocks").getValue(), who);

            Path dump = f.dir.resolve("heap.hprof");
            assertThrows(SecurityException.class, () -> mbs.invoke(JmxLockdown.HOTSPOT_DIAGNOSTIC, "dumpHeap",
                    new Object[] {dump.toString(), true}, new String[] {"java.lang.String", "boolean"}), who);
            assertFalse(Files.exists(dump), who);
            if (registered(FLIGHT_RECORDER)) {
                assertThrows(SecurityException.class, () -> mbs.invoke(FLIGHT_RECORDER, "newRecording", null, null), who);
            }

            // Reading the same beans and the harmless platform operations stay open.
            assertNotNull(mbs.invoke(JmxLockdown.HOTSPOT_DIAGNOSTIC, "getVMOption",
                    new Object[] {"PrintConcurrentLocks"}, new String[] {"java.lang.String"}), who);
            assertNotNull(mbs.getMBeanInfo(JmxLockdown.DIAGNOSTIC_COMMAND), who);
            mbs.invoke(MEMORY, "gc", null, null);
        });
    }

    @Test
    void writersStillSteerTheDaemonsOwnBeans() throws Exception {
        asEveryWriter((who, mbs, f) -> {
            Path p = f.createImage("vm2");
            mbs.invoke(DAEMON, "openImage", new Object[] {"vm2", p.toString()}, STRING_STRING);
            ObjectName vm2 = JmxAgent.imageObjectName("vm2");
            mbs.setAttribute(vm2, new Attribute("CommitIntervalMillis", 1234L));
            assertEquals(1234L, mbs.getAttribute(vm2, "CommitIntervalMillis"), who);
            mbs.invoke(vm2, "forceSync", null, null);
            mbs.invoke(DAEMON, "forceSyncAll", null, null);
            mbs.invoke(DAEMON, "closeImage", new Object[] {"vm2"}, new String[] {"java.lang.String"});
            assertFalse(mbs.isRegistered(vm2), who);
            mbs.invoke(JmxAgent.imageObjectName("vm1"), "close", null, null);
            assertTrue(f.daemon.images.isEmpty(), who);
        });
    }

    @Test
    void readonlyUsersReadAndGetNotificationsOnly() throws Exception {
        try (JmxFixture f = new JmxFixture(dir).start()) {
            EngineImage vm1 = f.open("vm1");
            ObjectName on = JmxAgent.imageObjectName("vm1");
            try (JMXConnector c = f.connect(JmxFixture.VIEWER, JmxFixture.VIEWER_PASSWORD)) {
                MBeanServerConnection mbs = c.getMBeanServerConnection();
                assertEquals(5000L, mbs.getAttribute(on, "CommitIntervalMillis"));
                assertNotNull(mbs.getAttribute(MEMORY, "HeapMemoryUsage"));
                BlockingQueue<Notification> got = new LinkedBlockingQueue<>();
                mbs.addNotificationListener(on, (n, h) -> got.add(n), null, null);
                vm1.forceSync();
                f.agent.refresh("vm1");
                vm1.write(1 << 20, new byte[4096]);
                assertTrue(dirtyBecomes(got, true), "no Dirty notification for the readonly user");

                List<Executable> writes = List.of(
                        () -> mbs.setAttribute(on, new Attribute("CommitIntervalMillis", 100L)),
                        () -> mbs.invoke(on, "forceSync", null, null),
                        () -> mbs.invoke(DAEMON, "closeImage", new Object[] {"vm1"}, new String[] {"java.lang.String"}),
                        () -> mbs.invoke(MEMORY, "gc", null, null),
                        () -> mbs.createMBean("javax.management.loading.MLet", on("qjournal-test:type=MLet")),
                        () -> mbs.unregisterMBean(on));
                for (Executable w : writes) {
                    SecurityException e = assertThrows(SecurityException.class, w::run);
                    assertTrue(e.getMessage().startsWith("Access denied!"), e.getMessage());
                }
                assertEquals(5000, vm1.image.journalOptions().commitInterval().toMillis());
                assertTrue(vm1.image.isDirty(), "the readonly user's forceSync must not have run");
            }
        }
    }

    interface Executable {
        void run() throws Exception;
    }

    private static boolean dirtyBecomes(BlockingQueue<Notification> q, boolean value) throws InterruptedException {
        // Generous bound against a hang only: the agent polls every 250 ms.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            Notification n = q.poll(1, TimeUnit.SECONDS);
            if (n instanceof AttributeChangeNotification a && a.getAttributeName().equals("Dirty")
                    && a.getNewValue().equals(value)) {
                return true;
            }
        }
        return false;
    }

    private static String chain(Throwable e) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            b.append(t).append('\n');
        }
        return b.toString();
    }

    private static boolean registered(ObjectName name) {
        return ManagementFactory.getPlatformMBeanServer().isRegistered(name);
    }

    private static ObjectName on(String s) {
        try {
            return new ObjectName(s);
        } catch (javax.management.MalformedObjectNameException e) {
            throw new IllegalArgumentException(s, e);
        }
    }
}
