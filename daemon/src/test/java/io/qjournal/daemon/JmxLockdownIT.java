package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.jmx.SerialFilter;
import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.lang.management.ManagementFactory;
import java.lang.management.RuntimeMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.management.Attribute;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JMX lockdown of a real qjournald started by bin/qjournald: the launcher's JVM-wide
 * deserialization filter is the one in etc/, logins other than String[] never reach the
 * authenticator, and no client, --jmx-no-auth included, may create MBeans, run diagnostic
 * commands or change VM flags, while the daemon's own operations keep working.
 */
class JmxLockdownIT {
    private static final String[] STRING = {"java.lang.String"};
    private static final String[] STRING_STRING = {"java.lang.String", "java.lang.String"};

    @TempDir
    Path dir;

    private static ObjectName on(String s) throws Exception {
        return new ObjectName(s);
    }

    private Path image(String name) throws Exception {
        Path p = dir.resolve(name + ".qcow2");
        Qcow2Image.create(p, new CreateOptions().size(16L << 20));
        return p;
    }

    private static JMXConnector connect(int port, Object credentials) throws Exception {
        Map<String, Object> env = new HashMap<>();
        if (credentials != null) {
            env.put(JMXConnector.CREDENTIALS, credentials);
        }
        return JMXConnectorFactory.connect(
                new JMXServiceURL("service:jmx:rmi:///jndi/rmi://127.0.0.1:" + port + "/jmxrmi"), env);
    }

    private DaemonProcess start(int jmxPort, String... jmxArgs) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("--image", "vm1=" + image("vm1"), "--nbd",
                "127.0.0.1:" + DaemonProcess.freePort(), "--jmx", "127.0.0.1:" + jmxPort));
        args.addAll(Arrays.asList(jmxArgs));
        DaemonProcess d = DaemonProcess.start(dir.resolve("qjournald.log"), Map.of(), args);
        try {
            d.awaitReady();
        } catch (Throwable t) {
            d.close();
            throw t;
        }
        return d;
    }

    /** What no writer may do, and what it still may: checked the same for every kind of client. */
    private void writerIsLockedDownButSteers(MBeanServerConnection mbs, String who) throws Exception {
        SecurityException mlet = assertThrows(SecurityException.class,
                () -> mbs.createMBean("javax.management.loading.MLet", on("evil:type=MLet")), who);
        assertTrue(mlet.getMessage().startsWith("createMBean(javax.management.loading.MLet) is refused: "),
                mlet.getMessage());
        assertFalse(mbs.isRegistered(on("evil:type=MLet")), who);
        SecurityException dcmd = assertThrows(SecurityException.class, () -> mbs.invoke(
                on("com.sun.management:type=DiagnosticCommand"), "vmVersion", new Object[] {new String[0]},
                new String[] {String[].class.getName()}), who);
        assertTrue(dcmd.getMessage().contains("DiagnosticCommand vmVersion is refused"), dcmd.getMessage());
        ObjectName hotspot = on("com.sun.management:type=HotSpotDiagnostic");
        assertThrows(SecurityException.class, () -> mbs.invoke(hotspot, "setVMOption",
                new Object[] {"PrintConcurrentLocks", "true"}, STRING_STRING), who);
        ObjectName memory = on("java.lang:type=Memory");
        assertThrows(SecurityException.class, () -> mbs.unregisterMBean(memory), who);
        assertTrue(mbs.isRegistered(memory), who);

        ObjectName daemon = on("qjournal:type=Daemon");
        mbs.invoke(daemon, "openImage", new Object[] {"vm2", image("vm2-" + who).toString()}, STRING_STRING);
        ObjectName vm2 = on("qjournal:type=Image,name=vm2");
        mbs.setAttribute(vm2, new Attribute("CommitIntervalMillis", 2000L));
        assertEquals(2000L, mbs.getAttribute(vm2, "CommitIntervalMillis"), who);
        mbs.invoke(daemon, "closeImage", new Object[] {"vm2"}, STRING);
        assertEquals(List.of("vm1"), Arrays.asList((String[]) mbs.getAttribute(daemon, "Images")), who);
        mbs.invoke(memory, "gc", null, null);
    }

    @Test
    void passwordDaemonFiltersLoginsAndLocksDownEveryRole() throws Exception {
        Path passwords = Files.writeString(dir.resolve("jmx.password"), "admin s3cret\nviewer peek\n");
        Files.setPosixFilePermissions(passwords, PosixFilePermissions.fromString("rw-------"));
        // Even an access file that grants creating MLets and unregistering does not open them.
        Path access = Files.writeString(dir.resolve("jmx.access"),
                "admin readwrite create javax.management.loading.MLet unregister\nviewer readonly\n");
        int port = DaemonProcess.freePort();
        try (DaemonProcess d = start(port, "--jmx-password-file", passwords.toString(), "--jmx-access-file",
                access.toString())) {
            // The launcher gave the JVM the filter of etc/, parsed as SerialFilter parses it, and
            // the connector was built with that same file.
            String fromEtc = SerialFilter.parse(Files.readString(
                    DaemonProcess.home().resolve("etc").resolve(SerialFilter.FILE_NAME)));
            assertEquals(SerialFilter.pattern(), fromEtc);
            try (JMXConnector admin = connect(port, new String[] {"admin", "s3cret"})) {
                MBeanServerConnection mbs = admin.getMBeanServerConnection();
                RuntimeMXBean runtime = ManagementFactory.newPlatformMXBeanProxy(mbs,
                        ManagementFactory.RUNTIME_MXBEAN_NAME, RuntimeMXBean.class);
                assertEquals(fromEtc, runtime.getSystemProperties().get("jdk.serialFilter"));
                writerIsLockedDownButSteers(mbs, "admin");
            }

            Exception login = assertThrows(Exception.class, () -> connect(port, new ObjectName("x:type=Login")));
            StringBuilder chain = new StringBuilder();
            for (Throwable t = login; t != null; t = t.getCause()) {
                chain.append(t).append('\n');
            }
            assertTrue(chain.toString().contains("filter status: REJECTED"), chain.toString());
            assertFalse(chain.toString().contains("Credentials should be"), chain.toString());

            try (JMXConnector viewer = connect(port, new String[] {"viewer", "peek"})) {
                MBeanServerConnection mbs = viewer.getMBeanServerConnection();
                ObjectName vm1 = on("qjournal:type=Image,name=vm1");
                assertEquals("OK", mbs.getAttribute(vm1, "Health"));
                assertThrows(SecurityException.class, () -> mbs.invoke(vm1, "forceSync", null, null));
                assertThrows(SecurityException.class,
                        () -> mbs.setAttribute(vm1, new Attribute("CommitIntervalMillis", 1L)));
            }
            assertTrue(d.process.isAlive(), d.output());
        }
    }

    @Test
    void noAuthDaemonIsLockedDownToo() throws Exception {
        int port = DaemonProcess.freePort();
        try (DaemonProcess d = start(port, "--jmx-no-auth"); JMXConnector c = connect(port, null)) {
            writerIsLockedDownButSteers(c.getMBeanServerConnection(), "no-auth");
            assertTrue(d.process.isAlive(), d.output());
        }
    }
}
