package io.qjournal.qcow2.check;

import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;

/** TEMP stub: the real one comes from branch check. */
public final class ImageChecker {
    private ImageChecker() {
    }

    public static CheckResult check(Storage storage, RepairMode mode) throws IOException {
        throw new UnsupportedOperationException("checker not merged yet");
    }
}
