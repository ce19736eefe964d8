package io.qjournal.qcow2.header;

import java.util.List;

/**
 * The qcow2 image header (docs/format/qcow2.md). Values are as stored; {@link HeaderCodec}
 * range-checks them on decode.
 */
public record Header(
        int version,
        long backingFileOffset,
        int backingFileSize,
        int clusterBits,
        long size,
        int cryptMethod,
        int l1Size,
        long l1TableOffset,
        long refcountTableOffset,
        int refcountTableClusters,
        int nbSnapshots,
        long snapshotsOffset,
        long incompatibleFeatures,
        long compatibleFeatures,
        long autoclearFeatures,
        int refcountOrder,
        int headerLength,
        int compressionType,
        List<HeaderExtension> extensions,
        String backingFile,
        byte[] unknownHeaderFields) {

    public static final int MAGIC = 0x514649fb;
    public static final int V2_LENGTH = 72;
    public static final int V3_LENGTH = 104;
    /** QEMU writes 112: the compression type byte plus padding to a multiple of 8. */
    public static final int V3_LENGTH_WITH_COMPRESSION = 112;

    public static final int COMPRESSION_ZLIB = 0;
    public static final int COMPRESSION_ZSTD = 1;

    public Header {
        extensions = List.copyOf(extensions);
        unknownHeaderFields = unknownHeaderFields == null ? new byte[0] : unknownHeaderFields.clone();
    }

    /** Header bytes past the fields this engine knows (header_length beyond 112), kept as is. */
    @Override
    public byte[] unknownHeaderFields() {
        return unknownHeaderFields.clone();
    }

    public int clusterSize() {
        return 1 << clusterBits;
    }

    public int refcountBits() {
        return 1 << refcountOrder;
    }

    public boolean has(Feature f) {
        switch (f.kind()) {
            case INCOMPATIBLE: return (incompatibleFeatures & f.mask()) != 0;
            case COMPATIBLE: return (compatibleFeatures & f.mask()) != 0;
            default: return (autoclearFeatures & f.mask()) != 0;
        }
    }

    public boolean extendedL2() {
        return has(Feature.EXTENDED_L2);
    }

    public HeaderExtension extension(int type) {
        for (HeaderExtension e : extensions) {
            if (e.type() == type) {
                return e;
            }
        }
        return null;
    }

    public String backingFormat() {
        HeaderExtension e = extension(HeaderExtension.BACKING_FORMAT);
        return e == null ? null : new String(e.data(), java.nio.charset.StandardCharsets.UTF_8);
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Mutable copy for the few header updates the engine makes. */
    public static final class Builder {
        public int version;
        public long backingFileOffset;
        public int backingFileSize;
        public int clusterBits;
        public long size;
        public int cryptMethod;
        public int l1Size;
        public long l1TableOffset;
        public long refcountTableOffset;
        public int refcountTableClusters;
        public int nbSnapshots;
        public long snapshotsOffset;
        public long incompatibleFeatures;
        public long compatibleFeatures;
        public long autoclearFeatures;
        public int refcountOrder;
        public int headerLength;
        public int compressionType;
        public List<HeaderExtension> extensions;
        public String backingFile;
        public byte[] unknownHeaderFields;

        public Builder() {
            extensions = List.of();
        }

        Builder(Header h) {
            version = h.version;
            backingFileOffset = h.backingFileOffset;
            backingFileSize = h.backingFileSize;
            clusterBits = h.clusterBits;
            size = h.size;
            cryptMethod = h.cryptMethod;
            l1Size = h.l1Size;
            l1TableOffset = h.l1TableOffset;
            refcountTableOffset = h.refcountTableOffset;
            refcountTableClusters = h.refcountTableClusters;
            nbSnapshots = h.nbSnapshots;
            snapshotsOffset = h.snapshotsOffset;
            incompatibleFeatures = h.incompatibleFeatures;
            compatibleFeatures = h.compatibleFeatures;
            autoclearFeatures = h.autoclearFeatures;
            refcountOrder = h.refcountOrder;
            headerLength = h.headerLength;
            compressionType = h.compressionType;
            extensions = h.extensions;
            backingFile = h.backingFile;
            unknownHeaderFields = h.unknownHeaderFields;
        }

        public Builder set(Feature f, boolean on) {
            switch (f.kind()) {
                case INCOMPATIBLE:
                    incompatibleFeatures = on ? incompatibleFeatures | f.mask() : incompatibleFeatures & ~f.mask();
                    break;
                case COMPATIBLE:
                    compatibleFeatures = on ? compatibleFeatures | f.mask() : compatibleFeatures & ~f.mask();
                    break;
                default:
                    autoclearFeatures = on ? autoclearFeatures | f.mask() : autoclearFeatures & ~f.mask();
            }
            return this;
        }

        public Header build() {
            return new Header(version, backingFileOffset, backingFileSize, clusterBits, size,
                    cryptMethod, l1Size, l1TableOffset, refcountTableOffset, refcountTableClusters,
                    nbSnapshots, snapshotsOffset, incompatibleFeatures, compatibleFeatures,
                    autoclearFeatures, refcountOrder, headerLength, compressionType, extensions,
                    backingFile, unknownHeaderFields);
        }
    }
}
