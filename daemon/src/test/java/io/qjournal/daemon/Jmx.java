package io.qjournal.daemon;

import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

/** A JMX client of the daemon under test (no authentication: tests run with --jmx-no-auth). */
final class Jmx implements AutoCloseable {
    private final JMXConnector connector;
    final MBeanServerConnection mbs;

    Jmx(int port) throws Exception {
        connector = JMXConnectorFactory.connect(
                new JMXServiceURL("service:jmx:rmi:///jndi/rmi://127.0.0.1:" + port + "/jmxrmi"));
        mbs = connector.getMBeanServerConnection();
    }

    Object image(String name, String attribute) throws Exception {
        return mbs.getAttribute(new ObjectName("qjournal:type=Image,name=" + name), attribute);
    }

    Object daemon(String attribute) throws Exception {
        return mbs.getAttribute(new ObjectName("qjournal:type=Daemon"), attribute);
    }

    @Override
    public void close() throws Exception {
        connector.close();
    }
}
