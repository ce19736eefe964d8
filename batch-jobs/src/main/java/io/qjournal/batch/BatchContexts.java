package io.qjournal.batch;

import jakarta.batch.runtime.context.JobContext;
import jakarta.batch.runtime.context.StepContext;
import jakarta.enterprise.context.Dependent;
import jakarta.enterprise.inject.Produces;
import org.jberet.creation.ArtifactCreationContext;

/**
 * Produces the batch contexts our artifacts inject, as JBeret's own producer does: from the
 * context JBeret sets on the thread while it creates an artifact.
 *
 * <p>It stands in for JBeret's CDI extension, whose producer bean declares some sixty
 * {@code @BatchProperty} producers plus the job, step and partition scopes; Weld's processing
 * of those was a third of its start. Our
 * artifacts read their parameters from {@link JobContext#getProperties()} and use no batch
 * scope. An artifact that needs {@code @BatchProperty} injection or a batch scope needs the
 * extension back in {@link CdiBoot}.
 */
@Dependent
public class BatchContexts {
    @Produces
    @Dependent
    public JobContext jobContext() {
        return ArtifactCreationContext.getCurrentArtifactCreationContext().getJobContext();
    }

    @Produces
    @Dependent
    public StepContext stepContext() {
        return ArtifactCreationContext.getCurrentArtifactCreationContext().getStepContext();
    }
}
