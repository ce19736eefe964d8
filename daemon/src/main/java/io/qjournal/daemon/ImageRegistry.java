package io.qjournal.daemon;

import io.qjournal.daemon.nbd.NbdExport;
import io.qjournal.daemon.nbd.NbdExports;
import io.qjournal.daemon.nbd.NbdServer;
import io.qjournal.jmx.JmxAgent;
import io.qjournal.jmx.ManagedDaemon;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * The open images by name: what NBD exports and what JMX's Daemon bean shows and steers.
 * Images may be opened and closed while the daemon runs; names are unique.
 */
public final class ImageRegistry implements NbdExports, ManagedDaemon {
    private final Map<String, ServedImage> images = new ConcurrentSkipListMap<>();
    private final java.util.Set<String> opening = new java.util.HashSet<>();
    private final long startNanos = System.nanoTime();
    private volatile NbdServer nbd;
    private volatile JmxAgent jmx;
    private volatile String nbdAddress = "";
    private final AllowedRoots roots;

    ImageRegistry(AllowedRoots roots) {
        this.roots = roots;
    }

    void attach(NbdServer server, String address) {
        this.nbd = server;
        this.nbdAddress = address;
    }

    void attach(JmxAgent agent) {
        this.jmx = agent;
        if (agent != null) {
            for (ServedImage s : images.values()) {
                agent.register(s);
            }
        }
    }

    /** Opens and exports an image; the name must not be in use. Several may open at once. */
    public ServedImage open(ImageSpec spec) throws IOException {
        synchronized (this) {
            if (images.containsKey(spec.name()) || !opening.add(spec.name())) {
                throw new IOException("image name '" + spec.name() + "' is already in use");
            }
        }
        ServedImage s;
        try {
            s = ServedImage.open(spec, roots, this::healthChanged, this::close);
        } finally {
            synchronized (this) {
                opening.remove(spec.name());
            }
        }
        synchronized (this) {
            images.put(spec.name(), s);
        }
        Log.image(spec.name(), "serving " + spec.path() + " (" + (spec.readOnly() ? "read-only"
                : "read-write, journal " + (s.journalEnabled() ? "on" : "off")) + ", " + s.size() + " bytes)");
        JmxAgent agent = jmx;
        if (agent != null) {
            agent.register(s);
        }
        return s;
    }

    /** Unexports and closes an image cleanly; its NBD clients are disconnected. */
    public void close(ServedImage s) throws IOException {
        synchronized (this) {
            if (!images.remove(s.name(), s)) {
                throw new IOException("image '" + s.name() + "' is not open");
            }
        }
        NbdServer server = nbd;
        if (server != null) {
            server.disconnect(s.name());
        }
        JmxAgent agent = jmx;
        try {
            closeOne(s);
        } finally {
            if (agent != null) {
                agent.unregister(s.name());
            }
        }
    }

    /** Closes every image (shutdown); returns false when one could not be closed cleanly. */
    public boolean closeAll() {
        boolean ok = true;
        List<ServedImage> all;
        synchronized (this) {
            all = new ArrayList<>(images.values());
            images.clear();
        }
        for (ServedImage s : all) {
            try {
                closeOne(s);
            } catch (IOException | RuntimeException e) {
                ok = false;
            }
        }
        return ok;
    }

    private static void closeOne(ServedImage s) throws IOException {
        boolean journal = s.journalEnabled();
        try {
            s.closeImage();
            Log.image(s.name(), s.readOnly() ? "closed" : journal
                    ? "closed cleanly (journal committed, checkpointed and removed)" : "closed cleanly (flushed)");
        } catch (IOException | RuntimeException e) {
            Log.error(s.name(), "close: " + Log.reason(e), e);
            throw e;
        }
    }

    private void healthChanged(ServedImage s) {
        JmxAgent agent = jmx;
        if (agent != null) {
            agent.refresh(s.name());
        }
    }

    /** Periodic: picks up failures of background commits (JMX polls Dirty itself). */
    void poll() {
        for (ServedImage s : images.values()) {
            s.pollEngineFailure();
        }
    }

    public ServedImage get(String name) {
        return images.get(name);
    }

    public int size() {
        return images.size();
    }

    // ---- NbdExports ----

    @Override
    public NbdExport find(String name) {
        if (name.isEmpty()) {
            // Like qemu-nbd: with a single image, the empty name selects it.
            Collection<ServedImage> all = images.values();
            return all.size() == 1 ? all.iterator().next() : null;
        }
        return images.get(name);
    }

    @Override
    public Collection<NbdExport> list() {
        return new ArrayList<>(images.values());
    }

    // ---- ManagedDaemon ----

    @Override
    public List<String> images() {
        return new ArrayList<>(images.keySet());
    }

    @Override
    public int connections() {
        NbdServer server = nbd;
        return server == null ? 0 : server.connections();
    }

    @Override
    public long uptimeSeconds() {
        return (System.nanoTime() - startNanos) / 1_000_000_000L;
    }

    @Override
    public String version() {
        return Qjournald.version();
    }

    @Override
    public String nbdAddress() {
        return nbdAddress;
    }

    @Override
    public void openImage(String name, String path) throws IOException {
        Path p = Path.of(path);
        if (!Files.isRegularFile(p)) {
            throw new IOException(path + ": no such image file");
        }
        try {
            open(ImageSpec.of(name, p, !Files.isWritable(p)));
        } catch (ConfigException e) {
            throw new IOException(e.getMessage());
        } catch (IOException e) {
            Log.error(name, "cannot open " + path + ": " + Log.reason(e), e);
            throw e;
        }
    }

    @Override
    public void closeImage(String name) throws IOException {
        ServedImage s = images.get(name);
        if (s == null) {
            throw new IOException("no image named '" + name + "'");
        }
        close(s);
    }

    @Override
    public void forceSyncAll() throws IOException {
        IOException first = null;
        for (ServedImage s : images.values()) {
            try {
                s.forceSync();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
