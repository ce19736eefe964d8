package io.qjournal.batch;

import io.qjournal.qcow2.check.CheckResult;
import io.qjournal.qcow2.check.ImageChecker;
import io.qjournal.qcow2.check.RepairMode;
import io.qjournal.qcow2.dedup.DedupCompactor;
import io.qjournal.qcow2.storage.FileStorage;
import io.qjournal.qcow2.storage.ImageInUseException;
import java.io.IOException;
import java.nio.file.Path;

/**
 * dedup-compaction of one image through the dedup engine, then a check of the result (a job
 * that rewrote metadata says whether the image it leaves is sound).
 */
final class DedupWork {
    private DedupWork() {
    }

    static ImageRecord compact(Path image, boolean dryRun, DedupCompactor.Progress progress) {
        long t0 = System.nanoTime();
        long size = ImageWork.sizeOf(image);
        DedupCompactor.Result r;
        try {
            r = DedupCompactor.run(image, new DedupCompactor.Options(dryRun), progress);
        } catch (ImageInUseException e) {
            return ImageWork.inUse(image, size, t0, e);
        } catch (IOException | RuntimeException e) {
            return ImageWork.failed(image, size, t0, false, e);
        }
        String skipped = String.join("; ", r.skipped());
        try (FileStorage s = FileStorage.open(image, false)) {
            s.lock(false);
            CheckResult c = ImageChecker.check(s, RepairMode.NONE);
            boolean dirty = ImageWork.journalDirty(s);
            Finding f = c.checkErrors() != 0 ? Finding.FAILED
                    : c.corruptions() != 0 ? Finding.CORRUPT
                    : dirty ? Finding.DIRTY_JOURNAL
                    : c.leaks() != 0 ? Finding.LEAKS : Finding.CLEAN;
            return new ImageRecord(image.toString(), f, c.leaks(), c.corruptions(), c.checkErrors(), dirty, false,
                    ImageWork.ms(t0), r.sizeBefore(), r.sizeAfter(), r.bytesFingerprinted(), r.bytesWon(),
                    ImageWork.trim(skipped.isEmpty() ? "" : "skipped: " + skipped));
        } catch (ImageInUseException e) {
            // Someone took the image between the compaction and the check: the compaction stands.
            return new ImageRecord(image.toString(), Finding.IN_USE, 0, 0, 0, false, false, ImageWork.ms(t0),
                    r.sizeBefore(), r.sizeAfter(), r.bytesFingerprinted(), r.bytesWon(), ImageWork.trim(e.getMessage()));
        } catch (IOException | RuntimeException e) {
            return ImageWork.failed(image, size, t0, false, e);
        }
    }
}
