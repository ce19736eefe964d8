package io.qjournal.jmx;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.AttributeChangeNotification;
import javax.management.MBeanNotificationInfo;
import javax.management.NotificationBroadcasterSupport;
import javax.management.ObjectName;

/**
 * The Image MXBean over a {@link ManagedImage}. The engine has no listeners, so the agent polls
 * {@link #poll()} and this bean turns a changed Dirty or Health into an
 * AttributeChangeNotification.
 */
final class ImageBean implements ImageMXBean {
    static final String DIRTY = "Dirty";
    static final String HEALTH = "Health";

    static final MBeanNotificationInfo[] NOTIFICATIONS = {
        new MBeanNotificationInfo(new String[] {AttributeChangeNotification.ATTRIBUTE_CHANGE},
                AttributeChangeNotification.class.getName(),
                "Dirty or Health of the image changed")
    };

    static final Map<String, String> DESCRIPTIONS = Map.ofEntries(
            Map.entry("Path", "Image file"),
            Map.entry("VirtualSize", "Guest-visible size in bytes"),
            Map.entry("ReadOnly", "Served read-only"),
            Map.entry("JournalEnabled", "A metadata journal is live on this image"),
            Map.entry(DIRTY, "Committed or pending journal transactions not yet synced to their final places"),
            Map.entry("CommitIntervalMillis", "Timed journal commit interval in milliseconds (at least 1)"),
            Map.entry("CommitDataSize", "Bytes of pending metadata that trigger a journal commit (>= 0)"),
            Map.entry("JournalSize", "Journal area size in bytes"),
            Map.entry("JournalFill", "Journal bytes holding transactions not yet synced"),
            Map.entry("CommittedSequence", "Sequence number of the last committed transaction"),
            Map.entry("SyncedSequence", "Sequence number of the last transaction written home"),
            Map.entry("PendingTransactions", "Transactions recorded but not yet committed"),
            Map.entry("ReplayedAtOpen", "Opening the image replayed a dirty journal (after a crash)"),
            Map.entry(HEALTH, "OK, or FAILED: reason after an I/O error (the image refuses writes)"),
            Map.entry("BytesRead", "Bytes read by clients"),
            Map.entry("BytesWritten", "Bytes written by clients"),
            Map.entry("Flushes", "Client flushes served"),
            Map.entry("Syncs", "fdatasync/fsync calls issued on the image file"),
            Map.entry("Clients", "NBD clients attached now"),
            Map.entry("commit", "Commit the open journal transaction now"),
            Map.entry("forceSync", "Commit and checkpoint now, so Dirty becomes false"),
            Map.entry("close", "Close the image cleanly; its clients are disconnected"));

    private final ManagedImage image;
    private final String name;
    private final ObjectName objectName;
    private final Runnable onClose;
    private final NotificationBroadcasterSupport emitter =
            new NotificationBroadcasterSupport(NOTIFICATIONS);
    private final AtomicLong sequence = new AtomicLong();
    private Boolean lastDirty;
    private String lastHealth;

    ImageBean(ManagedImage image, ObjectName objectName, Runnable onClose) {
        this.image = image;
        this.name = image.name();
        this.objectName = objectName;
        this.onClose = onClose;
        poll();
    }

    NotificationBroadcasterSupport emitter() {
        return emitter;
    }

    /** Re-reads Dirty and Health; sends a notification for each that changed since last time. */
    synchronized void poll() {
        boolean dirty;
        String health;
        try {
            dirty = image.dirty();
            health = image.health();
        } catch (RuntimeException e) {
            return; // the image is closing under us; its bean goes away next
        }
        if (lastDirty != null && dirty != lastDirty) {
            send(DIRTY, "boolean", lastDirty, dirty);
        }
        if (lastHealth != null && !lastHealth.equals(health)) {
            send(HEALTH, String.class.getName(), lastHealth, health);
        }
        lastDirty = dirty;
        lastHealth = health;
    }

    private void send(String attribute, String type, Object oldValue, Object newValue) {
        String msg = name + ": " + attribute + " " + oldValue + " -> " + newValue;
        emitter.sendNotification(new AttributeChangeNotification(objectName, sequence.incrementAndGet(),
                System.currentTimeMillis(), msg, attribute, type, oldValue, newValue));
    }

    @Override
    public String getPath() {
        return get(image::path);
    }

    @Override
    public long getVirtualSize() {
        return get(image::virtualSize);
    }

    @Override
    public boolean isReadOnly() {
        return get(image::readOnly);
    }

    @Override
    public boolean isJournalEnabled() {
        return get(image::journalEnabled);
    }

    @Override
    public boolean isDirty() {
        return get(image::dirty);
    }

    @Override
    public long getCommitIntervalMillis() {
        return get(image::commitIntervalMillis);
    }

    @Override
    public void setCommitIntervalMillis(long millis) {
        // The engine's rule (JournalOptions) decides; its error comes back named after the image.
        run(() -> image.setCommitIntervalMillis(millis));
    }

    @Override
    public long getCommitDataSize() {
        return get(image::commitDataSize);
    }

    @Override
    public void setCommitDataSize(long bytes) {
        run(() -> image.setCommitDataSize(bytes));
    }

    @Override
    public long getJournalSize() {
        return get(image::journalSize);
    }

    @Override
    public long getJournalFill() {
        return get(image::journalFill);
    }

    @Override
    public long getCommittedSequence() {
        return get(image::committedSequence);
    }

    @Override
    public long getSyncedSequence() {
        return get(image::syncedSequence);
    }

    @Override
    public int getPendingTransactions() {
        return get(image::pendingTransactions);
    }

    @Override
    public boolean isReplayedAtOpen() {
        return get(image::replayedAtOpen);
    }

    @Override
    public String getHealth() {
        return get(image::health);
    }

    @Override
    public long getBytesRead() {
        return get(image::bytesRead);
    }

    @Override
    public long getBytesWritten() {
        return get(image::bytesWritten);
    }

    @Override
    public long getFlushes() {
        return get(image::flushes);
    }

    @Override
    public long getSyncs() {
        return get(image::syncs);
    }

    @Override
    public int getClients() {
        return get(image::clients);
    }

    @Override
    public void commit() throws IOException {
        io(image::commit);
        poll();
    }

    @Override
    public void forceSync() throws IOException {
        io(image::forceSync);
        poll();
    }

    @Override
    public void close() throws IOException {
        io(image::close);
        // A failed close keeps the bean, so the operator still sees Health and can retry.
        onClose.run();
    }

    private interface IoAction {
        void run() throws IOException;
    }

    private void io(IoAction action) throws IOException {
        try {
            action.run();
        } catch (IOException e) {
            throw RemoteErrors.io(name, e);
        } catch (RuntimeException e) {
            throw RemoteErrors.runtime(name, e);
        }
    }

    private void run(Runnable action) {
        try {
            action.run();
        } catch (RuntimeException e) {
            throw RemoteErrors.runtime(name, e);
        }
    }

    private <T> T get(java.util.function.Supplier<T> getter) {
        try {
            return getter.get();
        } catch (RuntimeException e) {
            throw RemoteErrors.runtime(name, e);
        }
    }
}
