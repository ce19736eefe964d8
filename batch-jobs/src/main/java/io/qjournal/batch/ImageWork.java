package io.qjournal.batch;

import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.storage.ImageInUseException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The work each job does on one image, as a plain library call (the batch artifacts only
 * route images here and record what comes back).
 */
public final class ImageWork {
    private ImageWork() {
    }

    /**
     * integrity-sweep and journal-replay: the checks of `qjournal check`, journal-aware. A
     * dirty journal is replayed only when {@code replay}; otherwise the image is checked as
     * replay would leave it (in memory) and reported DIRTY-JOURNAL.
     */
    public static ImageRecord sweep(Path image, RepairMode mode, boolean replay) {
        long t0 = System.nanoTime();
        long size = sizeOf(image);
        boolean writable = mode != RepairMode.NONE || replay;
        boolean replayed = false;
        try {
            boolean dirty;
            CheckResult r = null;
            boolean dirtyAfter = false;
            try (FileStorage s = FileStorage.open(image, writable)) {
                s.lock(writable);
                dirty = journalDirty(s);
                if (!(dirty && replay)) {
                    // Nothing to replay: check through the same open file (one open and lock
                    // per image; most images of a sweep take a few milliseconds).
                    r = ImageChecker.check(s, mode);
                    // A read-only check leaves the file as it was.
                    dirtyAfter = writable ? journalDirty(s) : dirty;
                }
            }
            if (dirty && replay) {
                // Opening for writing replays the journal; closing removes it (as `qjournal replay`).
                try (Qcow2Image img = Qcow2Image.open(image, OpenOptions.readWrite().openBacking(false))) {
                    replayed = img.journalStatusAtOpen().dirty() || img.journalStatusAtOpen().present();
                }
                try (FileStorage s = FileStorage.open(image, mode != RepairMode.NONE)) {
                    s.lock(mode != RepairMode.NONE);
                    r = ImageChecker.check(s, mode);
                    dirtyAfter = journalDirty(s);
                }
            }
            if (dirty && !dirtyAfter) {
                replayed = true;
            }
            Finding f = r.checkErrors() != 0 ? Finding.FAILED
                    : r.corruptions() != 0 ? Finding.CORRUPT
                    : dirtyAfter ? Finding.DIRTY_JOURNAL
                    : r.leaks() != 0 ? Finding.LEAKS : Finding.CLEAN;
            String msg = r.checkErrors() != 0 ? "check not completed: " + String.join("; ", r.messages()) : "";
            return new ImageRecord(image.toString(), f, r.leaks(), r.corruptions(), r.checkErrors(), dirtyAfter,
                    replayed, ms(t0), size, sizeOf(image), size, 0, trim(msg));
        } catch (ImageInUseException e) {
            return inUse(image, size, t0, e);
        } catch (IOException | RuntimeException e) {
            return failed(image, size, t0, replayed, e);
        }
    }

    static ImageRecord inUse(Path image, long size, long t0, Exception e) {
        return new ImageRecord(image.toString(), Finding.IN_USE, 0, 0, 0, false, false, ms(t0), size, size, 0, 0,
                trim(e.getMessage()));
    }

    static ImageRecord failed(Path image, long size, long t0, boolean replayed, Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return new ImageRecord(image.toString(), Finding.FAILED, 0, 0, 1, false, replayed, ms(t0), size,
                sizeOf(image), 0, 0, trim(m));
    }

    /** The "journal dirty" incompatible bit: QEMU refuses the image until it is replayed. */
    static boolean journalDirty(FileStorage s) throws IOException {
        return HeaderCodec.read(s).has(Feature.JOURNAL_DIRTY);
    }

    static long sizeOf(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return -1;
        }
    }

    static long ms(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }

    static String trim(String s) {
        if (s == null) {
            return "";
        }
        return s.length() > 2000 ? s.substring(0, 2000) : s;
    }
}
