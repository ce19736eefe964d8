package io.qjournal.jmx;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/** The Daemon MXBean over a {@link ManagedDaemon}. */
final class DaemonBean implements DaemonMXBean {
    static final Map<String, String> DESCRIPTIONS = Map.of(
            "Images", "Names of the open images",
            "Connections", "NBD client connections now",
            "UptimeSeconds", "Seconds since the daemon started",
            "Version", "qjournal version",
            "NbdAddress", "Where the NBD server listens",
            "openImage", "Open an image file (journal on when writable) and export it under a name",
            "closeImage", "Close an image cleanly; its clients are disconnected",
            "forceSyncAll", "Commit and checkpoint every image now");

    static final Map<String, String[]> PARAMETER_NAMES = Map.of(
            "openImage", new String[] {"name", "path"},
            "closeImage", new String[] {"name"});

    private final ManagedDaemon daemon;

    DaemonBean(ManagedDaemon daemon) {
        this.daemon = daemon;
    }

    @Override
    public List<String> getImages() {
        return get(daemon::images);
    }

    @Override
    public int getConnections() {
        return get(daemon::connections);
    }

    @Override
    public long getUptimeSeconds() {
        return get(daemon::uptimeSeconds);
    }

    @Override
    public String getVersion() {
        return get(daemon::version);
    }

    @Override
    public String getNbdAddress() {
        return get(daemon::nbdAddress);
    }

    @Override
    public void openImage(String name, String path) throws IOException {
        if (name == null || name.isBlank() || path == null || path.isBlank()) {
            throw new IllegalArgumentException("openImage needs a name and a path");
        }
        try {
            daemon.openImage(name, path);
        } catch (IOException e) {
            throw RemoteErrors.io(name, e);
        } catch (RuntimeException e) {
            throw RemoteErrors.runtime(name, e);
        }
    }

    @Override
    public void closeImage(String name) throws IOException {
        try {
            daemon.closeImage(name);
        } catch (IOException e) {
            throw RemoteErrors.io(name, e);
        } catch (RuntimeException e) {
            throw RemoteErrors.runtime(name, e);
        }
    }

    @Override
    public void forceSyncAll() throws IOException {
        try {
            daemon.forceSyncAll();
        } catch (IOException e) {
            throw RemoteErrors.io(null, e);
        } catch (RuntimeException e) {
            throw RemoteErrors.runtime(null, e);
        }
    }

    private <T> T get(java.util.function.Supplier<T> getter) {
        try {
            return getter.get();
        } catch (RuntimeException e) {
            throw RemoteErrors.runtime(null, e);
        }
    }
}
