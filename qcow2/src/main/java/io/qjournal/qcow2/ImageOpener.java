package io.qjournal.qcow2;

import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.cluster.ImageState;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.journal.ImageJournal;
import io.qjournal.qcow2.journal.JournalRecovery;
import io.qjournal.qcow2.journal.format.Journal;
import io.qjournal.qcow2.journal.format.JournalExtension;
import io.qjournal.qcow2.meta.DirectMetadataWriter;
import io.qjournal.qcow2.meta.MetaWrite;
import io.qjournal.qcow2.snapshot.SnapshotEntry;
import io.qjournal.qcow2.snapshot.SnapshotTable;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.storage.OverlayStorage;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Opening and creating images: locking, the header's vetting, journal replay (into memory for a
 * read-only open), the dirty bit's repair, then {@link Qcow2Image#opened}.
 */
final class ImageOpener {
    static final int MAX_BACKING_DEPTH = 64;

    private ImageOpener() {
    }

    static Qcow2Image open(Path path, OpenOptions options, int depth) throws IOException {
        Path file = OpenChecks.allowedFile(path, options.pathPolicy, PathPolicy.Role.IMAGE, null);
        return open(path, file, options, depth);
    }

    /**
     * @param path the image's name: relative backing file names resolve against its directory
     * @param file what is opened: {@code path} itself, or its real path once a policy allowed it
     *     (so a symlink replaced after the check cannot redirect the open)
     */
    static Qcow2Image open(Path path, Path file, OpenOptions options, int depth) throws IOException {
        FileStorage storage = FileStorage.open(file, options.writable);
        try {
            if (options.lock) {
                storage.lock(options.writable);
            }
            Header h = HeaderCodec.read(storage);
            OpenChecks.checkFeatures(h, options.writable, storage.name());
            BlockDevice backing = options.openBacking
                    ? openBacking(h, path, options.pathPolicy, depth) : null;
            return finishOpen(storage, path, options, h, backing);
        } catch (IOException | RuntimeException e) {
            storage.close();
            throw e;
        }
    }

    static Qcow2Image open(Storage storage, OpenOptions options, BlockDevice backing) throws IOException {
        Header h = HeaderCodec.read(storage);
        OpenChecks.checkFeatures(h, options.writable, storage.name());
        return finishOpen(storage, null, options, h, backing);
    }

    private static BlockDevice openBacking(Header h, Path imagePath, PathPolicy policy, int depth) throws IOException {
        String file = imagePath.toString();
        if (h.backingFile() == null || h.backingFile().isEmpty()) {
            return null;
        }
        if (depth >= MAX_BACKING_DEPTH) {
            throw new Qcow2Exception(file, "backing chain is deeper than " + MAX_BACKING_DEPTH + " (a loop?)");
        }
        Path dir = imagePath.toAbsolutePath().getParent();
        Path backing = dir == null ? Path.of(h.backingFile()) : dir.resolve(h.backingFile());
        if (!Files.exists(backing)) {
            throw new Qcow2Exception(file, "Could not open backing file '" + h.backingFile()
                    + "': No such file or directory");
        }
        // Checked before anything reads it, even the format probe.
        Path open = OpenChecks.allowedFile(backing, policy, PathPolicy.Role.BACKING_FILE, imagePath);
        String fmt = h.backingFormat();
        if (fmt == null) {
            fmt = OpenChecks.probeFormat(open);
        }
        switch (fmt) {
            case "raw":
                return RawImage.open(open);
            case "qcow2":
                return open(backing, open, OpenOptions.readOnly().lock(false).pathPolicy(policy),
                        depth + 1);
            default:
                throw new Qcow2Exception(file, "backing file format '" + fmt + "' is not supported");
        }
    }

    private static Qcow2Image finishOpen(Storage storage, Path path, OpenOptions o, Header h, BlockDevice backing)
            throws IOException {
        JournalExtension ext = JournalExtension.of(h, storage.name());
        boolean valid = ext != null && h.has(Feature.JOURNAL_VALID);
        JournalStatus before = ext == null ? JournalStatus.NONE : ImageJournal.status(storage, h, ext, null);
        Journal recovered = null;
        Storage s = storage;
        if (valid) {
            if (!o.writable) {
                // Replay into memory: the view is consistent and the file stays untouched.
                s = new OverlayStorage(storage);
            }
            recovered = JournalRecovery.recover(s, h, ext);
            h = HeaderCodec.read(s);
            OpenChecks.checkFeatures(h, o.writable, s.name());
            ext = JournalExtension.of(h, s.name());
            JournalRecovery.repairAfterReplay(s, h, ext);
        }
        // Journal bits without the extension: power failed while the header that names a new
        // journal was written, its first sector landed and the rest did not. The journal's
        // clusters may already be counted (a leak): repaired as for the dirty bit.
        boolean tornCreation = ext == null && (h.has(Feature.JOURNAL_DIRTY) || h.has(Feature.JOURNAL_VALID));
        if (o.writable && (h.has(Feature.DIRTY) || tornCreation)) {
            h = repairDirty(s, o);
        }
        List<SnapshotInfo> snapshots = new ArrayList<>();
        for (SnapshotEntry e : SnapshotTable.read(s, h)) {
            snapshots.add(new SnapshotInfo(e.id(), e.name(), e.vmStateSize(), e.dateSec(), e.dateNsec(),
                    e.vmClockNsec(), e.diskSize(), e.icount()));
        }
        ImageState state = new ImageState(s, h, backing, o.l2CacheBytes, o.refcountCacheBytes);
        return Qcow2Image.opened(state, path, o, before, snapshots, ext, valid, recovered);
    }

    /**
     * Lazy refcounts left the dirty bit after a crash: rebuild the refcounts (qemu-img check
     * -r all) and clear the bit before writing, as QEMU does at open.
     */
    private static Header repairDirty(Storage storage, OpenOptions o) throws IOException {
        if (!o.repairDirty) {
            throw new Qcow2Exception(storage.name(), "image has the dirty bit set (lazy refcounts after a crash);"
                    + " repair it with 'qjournal check -r all'");
        }
        CheckResult r = ImageChecker.check(storage, RepairMode.ALL);
        if (r.checkErrors() > 0 || r.corruptions() > 0) {
            throw new Qcow2Exception(storage.name(), "the dirty image could not be repaired ("
                    + r.corruptions() + " corruptions remain)");
        }
        Header.Builder b = HeaderCodec.read(storage).toBuilder();
        b.set(Feature.DIRTY, false);
        new DirectMetadataWriter(storage).writeStages(List.of(List.of(new MetaWrite(0, HeaderCodec.encode(b.build())))));
        return HeaderCodec.read(storage);
    }

    static void create(Path path, CreateOptions options) throws IOException {
        long backingSize = -1;
        if (options.backingFile != null) {
            Path dir = path.toAbsolutePath().getParent();
            Path b = dir.resolve(options.backingFile);
            String fmt = options.backingFormat != null ? options.backingFormat : OpenChecks.probeFormat(b);
            try (BlockDevice dev = fmt.equals("qcow2")
                    ? Qcow2Image.open(b, OpenOptions.readOnly().lock(false).openBacking(false)) : RawImage.open(b)) {
                backingSize = dev.size();
            }
        }
        try (FileStorage s = FileStorage.create(path)) {
            long size = options.size > 0 || options.backingFile == null ? options.size : backingSize;
            ImageFormatter.format(s, options, size);
        }
        if (options.preallocation == CreateOptions.Preallocation.METADATA) {
            try (Qcow2Image img = Qcow2Image.open(path, OpenOptions.readWrite().openBacking(false))) {
                img.preallocateMetadata();
            }
        }
    }

    static void create(Storage storage, CreateOptions options) throws IOException {
        ImageFormatter.format(storage, options, options.size);
        if (options.preallocation == CreateOptions.Preallocation.METADATA) {
            try (Qcow2Image img = Qcow2Image.open(storage, OpenOptions.readWrite(), null)) {
                img.preallocateMetadata();
            }
        }
    }
}
