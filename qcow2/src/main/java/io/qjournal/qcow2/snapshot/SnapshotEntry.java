package io.qjournal.qcow2.snapshot;

import java.util.Arrays;
import java.util.Objects;

/**
 * One entry of the snapshot table (docs/format/qcow2.md).
 *
 * @param vmStateSize the VM state size: the 64-bit extra-data field when present, else the 32-bit one
 * @param diskSize virtual disk size at snapshot time from the extra data, -1 if absent
 * @param icount instruction count from the extra data, -1 if absent (QEMU's "no icount")
 * @param extraData the extra data exactly as stored (known fields included), for a byte-exact rewrite
 */
public record SnapshotEntry(long l1TableOffset, int l1Size, String id, String name, long dateSec,
        long dateNsec, long vmClockNsec, long vmStateSize, long diskSize, long icount, byte[] extraData) {

    public SnapshotEntry {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(name, "name");
        extraData = extraData == null ? new byte[0] : extraData.clone();
    }

    @Override
    public byte[] extraData() {
        return extraData.clone();
    }

    int extraDataSize() {
        return extraData.length;
    }

    /** The same entry with its L1 table elsewhere. */
    public SnapshotEntry withL1(long offset, int size) {
        return new SnapshotEntry(offset, size, id, name, dateSec, dateNsec, vmClockNsec, vmStateSize, diskSize,
                icount, extraData);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SnapshotEntry e && e.l1TableOffset == l1TableOffset && e.l1Size == l1Size
                && e.id.equals(id) && e.name.equals(name) && e.dateSec == dateSec && e.dateNsec == dateNsec
                && e.vmClockNsec == vmClockNsec && e.vmStateSize == vmStateSize && e.diskSize == diskSize
                && e.icount == icount && Arrays.equals(e.extraData, extraData);
    }

    @Override
    public int hashCode() {
        return Objects.hash(l1TableOffset, l1Size, id, name, dateSec, vmStateSize) * 31 + Arrays.hashCode(extraData);
    }

    @Override
    public String toString() {
        return "SnapshotEntry[id=" + id + ", name=" + name + ", l1=0x" + Long.toHexString(l1TableOffset) + "/"
                + l1Size + ", disk=" + diskSize + ", vmstate=" + vmStateSize + ", extra=" + extraData.length + "]";
    }
}
