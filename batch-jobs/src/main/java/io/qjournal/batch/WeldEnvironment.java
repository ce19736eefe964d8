package io.qjournal.batch;

import jakarta.transaction.TransactionManager;
import java.util.Properties;
import org.jberet.repository.JobRepository;
import org.jberet.se.SEArtifactFactory;
import org.jberet.spi.ArtifactFactory;
import org.jberet.spi.BatchEnvironment;
import org.jberet.spi.JobTask;
import org.jberet.spi.JobXmlResolver;

/**
 * JBeret SE's environment, except that its artifacts come from the Weld container {@link CdiBoot}
 * is starting, waited for when the first artifact is made instead of before the job starts. So a
 * job's start (its XML, its repository rows, its first thread) runs beside Weld's start.
 *
 * <p>JBeret SE's own factory would boot a second container if it were made before ours is up:
 * ours is made only once {@link CdiBoot#await} returns.
 */
final class WeldEnvironment implements BatchEnvironment {
    private final BatchEnvironment se;

    WeldEnvironment(BatchEnvironment se) {
        this.se = se;
    }

    @Override
    public ArtifactFactory getArtifactFactory() {
        return new AwaitingFactory();
    }

    @Override
    public ClassLoader getClassLoader() {
        return se.getClassLoader();
    }

    @Override
    public void submitTask(JobTask task) {
        se.submitTask(task);
    }

    @Override
    public TransactionManager getTransactionManager() {
        return se.getTransactionManager();
    }

    @Override
    public JobRepository getJobRepository() {
        return se.getJobRepository();
    }

    @Override
    public JobXmlResolver getJobXmlResolver() {
        return se.getJobXmlResolver();
    }

    @Override
    public Properties getBatchConfigurationProperties() {
        return se.getBatchConfigurationProperties();
    }

    @Override
    public String getApplicationName() {
        return se.getApplicationName();
    }

    /** Creates JBeret's CDI artifact factory on first use, once the container is up. */
    private static final class AwaitingFactory implements ArtifactFactory {
        private volatile ArtifactFactory factory;

        private ArtifactFactory factory() {
            ArtifactFactory f = factory;
            if (f == null) {
                synchronized (this) {
                    f = factory;
                    if (f == null) {
                        CdiBoot.await();
                        f = new SEArtifactFactory();
                        factory = f;
                    }
                }
            }
            return f;
        }

        @Override
        public Object create(String ref, Class<?> cls, ClassLoader classLoader) throws Exception {
            return factory().create(ref, cls, classLoader);
        }

        @Override
        public void destroy(Object instance) {
            factory().destroy(instance);
        }

        @Override
        public Class<?> getArtifactClass(String ref, ClassLoader classLoader) {
            return factory().getArtifactClass(ref, classLoader);
        }
    }
}
