package io.qjournal.jmx;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.Set;
import javax.management.MBeanServer;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;
import javax.management.remote.MBeanServerForwarder;

/**
 * What no JMX client may do, whatever its role, {@code --jmx-no-auth} included: each of these
 * runs code, changes the JVM or writes files as the daemon's user, and an operator steering
 * images needs none of them. The connector puts this forwarder between its clients and the
 * platform MBean server; the JDK's access-file controller (readonly / readwrite) sits in front
 * of it, so roles keep one place of truth and this class only knows "never".
 *
 * <p>Refusals are {@link SecurityException}s with one line naming what is refused and why: the
 * client (jconsole, jmxterm, {@code bin/qjournal-jmxterm}) shows that line as is.
 */
final class JmxLockdown implements InvocationHandler {
    static final ObjectName DIAGNOSTIC_COMMAND = name("com.sun.management:type=DiagnosticCommand");
    static final ObjectName HOTSPOT_DIAGNOSTIC = name("com.sun.management:type=HotSpotDiagnostic");
    static final String FLIGHT_RECORDER_DOMAIN = "jdk.management.jfr";

    private static final Set<String> CREATE = Set.of("createMBean", "registerMBean", "instantiate");
    private static final Set<String> ATTRIBUTE_WRITES = Set.of("setAttribute", "setAttributes");

    private volatile MBeanServer next;

    private JmxLockdown() {}

    /** A forwarder to give to {@code JMXConnectorServer.setMBeanServerForwarder}. */
    static MBeanServerForwarder forwarder() {
        return (MBeanServerForwarder) Proxy.newProxyInstance(JmxLockdown.class.getClassLoader(),
                new Class<?>[] {MBeanServerForwarder.class}, new JmxLockdown());
    }

    @Override
    public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
        String op = method.getName();
        int argc = args == null ? 0 : args.length;
        if (method.getDeclaringClass() == Object.class) {
            return switch (op) {
                case "equals" -> proxy == args[0];
                case "hashCode" -> System.identityHashCode(proxy);
                default -> "qjournald JMX lockdown";
            };
        }
        if (op.equals("getMBeanServer") && argc == 0) {
            return next;
        }
        if (op.equals("setMBeanServer") && argc == 1) {
            if (args[0] == null) {
                throw new IllegalArgumentException("null MBeanServer");
            }
            if (next != null) {
                throw new IllegalArgumentException("MBeanServer object already initialized");
            }
            next = (MBeanServer) args[0];
            return null;
        }
        String refusal = refusal(op, args);
        if (refusal != null) {
            throw new SecurityException(refusal);
        }
        MBeanServer target = next;
        if (target == null) {
            throw new IllegalStateException("qjournald JMX lockdown used before its MBeanServer was set");
        }
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    /** Why {@code op(args)} is refused, or null when it may go on to the MBean server. */
    static String refusal(String op, Object[] args) {
        if (CREATE.contains(op)) {
            // The JDK's access controller creates by instantiate + registerMBean: same message.
            Object what = args == null || args.length == 0 ? null : args[0];
            String className = what instanceof String c ? c : what == null ? "?" : what.getClass().getName();
            return "createMBean(" + className + ") is refused: qjournald's MBeans are made by the daemon"
                    + " itself; a remote one (e.g. an MLet) could load code into it";
        }
        if (op.equals("unregisterMBean")) {
            return "unregisterMBean(" + args[0] + ") is refused: MBeans are removed by the daemon itself"
                    + " (to close an image, call its close() or the Daemon's closeImage)";
        }
        boolean invoke = op.equals("invoke");
        if (!(invoke || ATTRIBUTE_WRITES.contains(op)) || !(args[0] instanceof ObjectName name)) {
            return null;
        }
        String what = invoke ? name + " " + args[1] : "setting attributes of " + name;
        if (name.equals(DIAGNOSTIC_COMMAND)) {
            return what + " is refused: diagnostic commands can load agents and change the JVM"
                    + " as the daemon's user";
        }
        if (name.getDomain().equals(FLIGHT_RECORDER_DOMAIN)) {
            return what + " is refused: flight recordings hold the daemon's environment and are written"
                    + " to files the client names";
        }
        if (invoke && name.equals(HOTSPOT_DIAGNOSTIC)) {
            if (args[1].equals("setVMOption")) {
                return what + " is refused: it changes the running daemon's JVM flags";
            }
            if (args[1].equals("dumpHeap")) {
                return what + " is refused: it writes the daemon's memory, secrets included,"
                        + " to a file the client names";
            }
        }
        return null;
    }

    private static ObjectName name(String s) {
        try {
            return new ObjectName(s);
        } catch (MalformedObjectNameException e) {
            throw new IllegalArgumentException(s, e);
        }
    }
}
