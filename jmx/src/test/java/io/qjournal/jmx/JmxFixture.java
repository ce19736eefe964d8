package io.qjournal.jmx;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.Map;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;

/** Password and access files in the JDK formats, images, and a started agent over a EngineDaemon. */
final class JmxFixture implements AutoCloseable {
    static final String ADMIN = "admin";
    static final String ADMIN_PASSWORD = "s3cret-admin";
    static final String VIEWER = "viewer";
    static final String VIEWER_PASSWORD = "peek-only";

    final Path dir;
    final Path passwordFile;
    final Path accessFile;
    final EngineDaemon daemon = new EngineDaemon();
    JmxAgent agent;

    JmxFixture(Path dir) throws IOException {
        this.dir = dir;
        passwordFile = dir.resolve("jmxremote.password");
        Files.writeString(passwordFile, "# user password\n" + ADMIN + " " + ADMIN_PASSWORD + "\n"
                + VIEWER + " " + VIEWER_PASSWORD + "\n");
        Files.setPosixFilePermissions(passwordFile, PosixFilePermissions.fromString("rw-------"));
        accessFile = dir.resolve("jmxremote.access");
        Files.writeString(accessFile, ADMIN + " readwrite\n" + VIEWER + " readonly\n");
    }

    JmxAgent.Config config() {
        return new JmxAgent.Config("127.0.0.1", 0, passwordFile, accessFile, false);
    }

    JmxFixture start() throws IOException {
        return start(config());
    }

    JmxFixture start(JmxAgent.Config config) throws IOException {
        agent = JmxAgent.start(config, daemon);
        daemon.agent = agent;
        return this;
    }

    Path createImage(String name) throws IOException {
        Path p = dir.resolve(name + ".qcow2");
        Qcow2Image.create(p, new CreateOptions().size(64L << 20));
        return p;
    }

    EngineImage open(String name) throws IOException {
        daemon.openImage(name, createImage(name).toString());
        return daemon.images.get(name);
    }

    JMXConnector connect(String user, String password) throws IOException {
        return connectWith(new String[] {user, password});
    }

    /** Whatever object as the login (null: none, as with --jmx-no-auth). */
    JMXConnector connectWith(Object credentials) throws IOException {
        Map<String, Object> env = new HashMap<>();
        if (credentials != null) {
            env.put(JMXConnector.CREDENTIALS, credentials);
        }
        return JMXConnectorFactory.connect(agent.serviceUrl(), env);
    }

    int port() {
        String a = agent.address();
        return Integer.parseInt(a.substring(a.lastIndexOf(':') + 1));
    }

    @Override
    public void close() throws IOException {
        try {
            daemon.close();
        } finally {
            if (agent != null) {
                agent.close();
            }
        }
    }
}
