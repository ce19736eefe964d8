package io.qjournal.qcow2.check;

import java.util.List;

/**
 * The outcome of a check, with the fields of {@code qemu-img check --output=json}.
 *
 * @param checkErrors problems that kept the check from completing (I/O errors, unreadable structures)
 * @param imageEndOffset end of the last cluster in use ((highest used cluster + 1) * cluster size)
 * @param corruptions corruptions that remain
 * @param leaks leaked clusters that remain
 * @param totalClusters virtual size in clusters
 * @param allocatedClusters clusters allocated in the active L1 table (normal, preallocated zero, compressed)
 * @param messages the lines qemu-img prints on stderr while checking, in order
 */
public record CheckResult(String filename, long checkErrors, long imageEndOffset, long corruptions,
        long leaks, long corruptionsFixed, long leaksFixed, long totalClusters, long allocatedClusters,
        long fragmentedClusters, long compressedClusters, List<String> messages) {

    public CheckResult {
        messages = List.copyOf(messages);
    }

    /** qemu-img check exit codes: 0 clean, 1 check not completed (checkErrors>0), 2 corruptions remain, 3 only leaks remain. */
    public int exitCode() {
        if (checkErrors > 0) {
            return 1;
        }
        if (corruptions > 0) {
            return 2;
        }
        return leaks > 0 ? 3 : 0;
    }

    public boolean isClean() {
        return exitCode() == 0;
    }
}
