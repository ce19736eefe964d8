package io.qjournal.jmx;

import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.JournalStatus;
import io.qjournal.qcow2.Qcow2Image;
import java.io.IOException;

/**
 * The part of {@link ManagedImage} that reads straight off an open engine image: sizes,
 * journal state and counters. Whoever serves the image (the daemon, a test) adds its name,
 * path, traffic counters and operations.
 */
public abstract class EngineImageView implements ManagedImage {
    protected final Qcow2Image image;

    protected EngineImageView(Qcow2Image image) {
        this.image = image;
    }

    /** True once the image is closed: the journal's state is then reported as none. */
    protected boolean isClosed() {
        return false;
    }

    private JournalStatus status() {
        if (isClosed()) {
            return JournalStatus.NONE;
        }
        try {
            return image.journalStatus();
        } catch (IOException | RuntimeException e) {
            // Getters must not fail a JMX client's read; the health attribute tells the story.
            return JournalStatus.NONE;
        }
    }

    @Override
    public long virtualSize() {
        return image.size();
    }

    @Override
    public boolean journalEnabled() {
        return image.journalEnabled();
    }

    @Override
    public boolean dirty() {
        return image.isDirty();
    }

    @Override
    public long commitIntervalMillis() {
        JournalOptions o = image.journalOptions();
        return o == null ? 0 : o.commitInterval().toMillis();
    }

    @Override
    public long commitDataSize() {
        JournalOptions o = image.journalOptions();
        return o == null ? 0 : o.commitDatasize();
    }

    @Override
    public long journalSize() {
        return status().size();
    }

    @Override
    public long journalFill() {
        return status().usedBytes();
    }

    @Override
    public long committedSequence() {
        return status().committedSeq();
    }

    @Override
    public long syncedSequence() {
        return status().syncedSeq();
    }

    @Override
    public int pendingTransactions() {
        return image.pendingTransactions();
    }

    @Override
    public long syncs() {
        return Math.max(0, image.storageFlushes());
    }
}
