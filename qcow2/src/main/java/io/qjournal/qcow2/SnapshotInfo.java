package io.qjournal.qcow2;

/** One internal snapshot as `qemu-img snapshot -l` and `info` show it. */
public record SnapshotInfo(String id, String name, long vmStateSize, long dateSec, long dateNsec,
        long vmClockNsec, long diskSize, long icount) {
}
