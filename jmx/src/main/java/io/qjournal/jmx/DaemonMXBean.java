package io.qjournal.jmx;

import java.io.IOException;
import java.util.List;

/** {@code qjournal:type=Daemon}: the daemon as a whole. Names are a contract with scripts. */
public interface DaemonMXBean {
    List<String> getImages();

    int getConnections();

    long getUptimeSeconds();

    String getVersion();

    String getNbdAddress();

    void openImage(String name, String path) throws IOException;

    void closeImage(String name) throws IOException;

    void forceSyncAll() throws IOException;
}
