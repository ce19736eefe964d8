package io.qjournal.batch;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import org.jboss.weld.environment.se.Weld;
import org.jboss.weld.environment.se.WeldContainer;

/**
 * Starts the Weld SE container that JBeret SE runs its artifacts in, on a thread of its own, so
 * that it overlaps the opening of the job repository instead of following it.
 *
 * <p>JBeret SE's artifact factory adopts a running container named {@code STATIC_INSTANCE}
 * and only boots its own when there is none. Ours declares its beans instead of scanning the
 * class path for bean archives, which halves Weld's start, and {@link BatchContexts} produces
 * the contexts in place of JBeret's CDI extension (see there why).
 */
final class CdiBoot {
    /** The container id JBeret SE's {@code SEArtifactFactory} looks up. */
    static final String CONTAINER_ID = "STATIC_INSTANCE";

    /** Every batch artifact the job XML files name; a new artifact must be listed here. */
    static final Class<?>[] ARTIFACTS = {ImageMapper.class, ImageBatchlet.class, JobEnd.class};

    private static final String XML_VALIDATION_OFF = "org.jboss.weld.xml.disableValidating";

    private static FutureTask<WeldContainer> boot;

    private CdiBoot() {
    }

    /** Begins the container's start in the background (once per process). */
    static synchronized void begin() {
        if (boot != null) {
            return;
        }
        boot = new FutureTask<>(CdiBoot::initialize);
        Thread t = new Thread(boot, "qjournal-cdi-start");
        t.setDaemon(true);
        t.start();
    }

    /** Waits for the container; begins its start first when nobody has. */
    static WeldContainer await() {
        begin();
        try {
            return boot.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the batch runtime (Weld) was starting");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            throw new IllegalStateException("the batch runtime (Weld) did not start: " + QBatch.oneLine(c), c);
        }
    }

    private static WeldContainer initialize() {
        try {
            QBatch.quietLogs();
            WeldContainer running = WeldContainer.instance(CONTAINER_ID);
            if (running != null) {
                return running;
            }
            return configured(CONTAINER_ID).initialize();
        } finally {
        }
    }

    /**
     * The container as the batch runtime runs it (and as {@link WeldProxies} starts it at build
     * time, so that the proxy classes it writes are the ones this container asks for).
     */
    static Weld configured(String id) {
        // The container reads no beans.xml (its beans are listed), so loading the schema that
        // would validate one is a tenth of a second for nothing.
        if (System.getProperty(XML_VALIDATION_OFF) == null) {
            System.setProperty(XML_VALIDATION_OFF, "true");
        }
        return new Weld(id)
                .disableDiscovery()
                .addBeanClasses(ARTIFACTS)
                .addBeanClass(BatchContexts.class)
                // Nothing here gains from Weld's parallel deployment on a small host; its thread
                // pool would only compete with the repository's opening for the cores.
                .property("org.jboss.weld.executor.threadPoolType", "NONE")
                .property("org.jboss.weld.bootstrap.preloaderThreadPoolSize", 0)
                // Our beans are @Dependent and hold nothing to release: the container's
                // shutdown at exit would only delay it.
                .skipShutdownHook();
    }
}
