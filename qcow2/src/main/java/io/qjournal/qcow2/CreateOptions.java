package io.qjournal.qcow2;

/** qemu-img create -o options. */
public final class CreateOptions {
    public enum Preallocation { OFF, METADATA }

    long size;
    int clusterSize = 65536;
    int refcountBits = 16;
    int version = 3;
    String backingFile;
    String backingFormat;
    boolean lazyRefcounts;
    boolean extendedL2;
    Preallocation preallocation = Preallocation.OFF;
    int compressionType;

    public CreateOptions size(long v) {
        size = v;
        return this;
    }

    public CreateOptions clusterSize(int v) {
        clusterSize = v;
        return this;
    }

    public CreateOptions refcountBits(int v) {
        refcountBits = v;
        return this;
    }

    /** "0.10" gives version 2, "1.1" version 3. */
    public CreateOptions compat(String v) {
        switch (v) {
            case "0.10": version = 2; break;
            case "1.1": case "v3": version = 3; break;
            default: throw new IllegalArgumentException("Invalid compat version '" + v + "' (use 0.10 or 1.1)");
        }
        return this;
    }

    public CreateOptions backingFile(String v) {
        backingFile = v;
        return this;
    }

    public CreateOptions backingFormat(String v) {
        backingFormat = v;
        return this;
    }

    public CreateOptions lazyRefcounts(boolean v) {
        lazyRefcounts = v;
        return this;
    }

    public CreateOptions extendedL2(boolean v) {
        extendedL2 = v;
        return this;
    }

    public CreateOptions preallocation(Preallocation v) {
        preallocation = v;
        return this;
    }

    /** 0 zlib, 1 zstd. */
    public CreateOptions compressionType(int v) {
        compressionType = v;
        return this;
    }

    public long size() {
        return size;
    }
}
