package io.qjournal.qcow2.check;

import java.util.List;

/** TEMP stub: the real one comes from branch check. */
public record CheckResult(String filename, long checkErrors, long imageEndOffset, long corruptions, long leaks,
        long corruptionsFixed, long leaksFixed, long totalClusters, long allocatedClusters,
        long fragmentedClusters, long compressedClusters, List<String> messages) {
    public int exitCode() {
        return checkErrors != 0 ? 1 : corruptions != 0 ? 2 : leaks != 0 ? 3 : 0;
    }
}
