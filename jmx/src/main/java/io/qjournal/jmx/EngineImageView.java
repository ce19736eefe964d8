package io.qjournal.jmx;

import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.JournalStatus;
import io.qjournal.qcow2.Qcow2Image;
import java.io.IOException;
import java.util.function.BooleanSupplier;

/**
 * The part of {@link ManagedImage} that reads straight off an open engine image: sizes,
 * journal state and counters. Whoever serves the image (the daemon, a test) holds one and adds
 * its name, path, traffic counters and operations.
 */
public final class EngineImageView {
    private final Qcow2Image image;
    private final BooleanSupplier closed;

    /** {@code closed}: true once the image is closed; the journal's state is then reported as none. */
    public EngineImageView(Qcow2Image image, BooleanSupplier closed) {
        this.image = image;
        this.closed = closed;
    }

    private boolean isClosed() {
        return closed.getAsBoolean();
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

    public long virtualSize() {
        return image.size();
    }

    public boolean journalEnabled() {
        return image.journalEnabled();
    }

    public boolean dirty() {
        return image.isDirty();
    }

    public long commitIntervalMillis() {
        JournalOptions o = image.journalOptions();
        return o == null ? 0 : o.commitInterval().toMillis();
    }

    public long commitDataSize() {
        JournalOptions o = image.journalOptions();
        return o == null ? 0 : o.commitDatasize();
    }

    public long journalSize() {
        return status().size();
    }

    public long journalFill() {
        return status().usedBytes();
    }

    public long committedSequence() {
        return status().committedSeq();
    }

    public long syncedSequence() {
        return status().syncedSeq();
    }

    public int pendingTransactions() {
        return image.pendingTransactions();
    }

    public long syncs() {
        return Math.max(0, image.storageFlushes());
    }
}
