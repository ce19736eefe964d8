package io.qjournal.jmx;

import java.io.IOException;
import java.util.List;

/** What {@code qjournal:type=Daemon} shows and steers; implemented by the daemon. */
public interface ManagedDaemon {
    /** Names of the open images. */
    List<String> images();

    int connections();

    long uptimeSeconds();

    String version();

    /** "HOST:PORT" (and/or the unix socket path) the NBD server listens on. */
    String nbdAddress();

    /** Opens an image (journal on unless the file cannot be written) and exports it. */
    void openImage(String name, String path) throws IOException;

    void closeImage(String name) throws IOException;

    void forceSyncAll() throws IOException;
}
