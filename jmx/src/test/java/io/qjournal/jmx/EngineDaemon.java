package io.qjournal.jmx;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** A ManagedDaemon over EngineImages, standing in for qjournald. */
final class EngineDaemon implements ManagedDaemon, AutoCloseable {
    final Map<String, EngineImage> images = new ConcurrentHashMap<>();
    volatile JmxAgent agent;

    @Override
    public List<String> images() {
        List<String> names = new ArrayList<>(images.keySet());
        names.sort(null);
        return names;
    }

    @Override
    public int connections() {
        return 0;
    }

    @Override
    public long uptimeSeconds() {
        return 1;
    }

    @Override
    public String version() {
        return "test";
    }

    @Override
    public String nbdAddress() {
        return "127.0.0.1:10809";
    }

    @Override
    public void openImage(String name, String path) throws IOException {
        if (images.containsKey(name)) {
            throw new IOException("image " + name + " is already open");
        }
        EngineImage img = EngineImage.open(name, Path.of(path), this::closed);
        images.put(name, img);
        agent.register(img);
    }

    private void closed(EngineImage img) {
        images.remove(img.name(), img);
        agent.unregister(img.name());
    }

    @Override
    public void closeImage(String name) throws IOException {
        EngineImage img = images.get(name);
        if (img == null) {
            throw new IOException("no image " + name);
        }
        img.close();
    }

    @Override
    public void forceSyncAll() throws IOException {
        for (EngineImage img : images.values()) {
            img.forceSync();
        }
    }

    @Override
    public void close() throws IOException {
        for (EngineImage img : List.copyOf(images.values())) {
            img.close();
        }
    }
}
