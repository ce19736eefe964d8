package io.qjournal.qcow2;

import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.FeatureNameTable;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderCodec;
import io.qjournal.qcow2.header.HeaderExtension;
import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reading and vetting the header at open time, and opening backing files. */
final class OpenSupport {
    static final int MAX_BACKING_DEPTH = 64;

    private OpenSupport() {
    }

    static Header readHeader(Storage storage) throws IOException {
        return HeaderCodec.read(storage);
    }

    /** Refuses what this engine must not touch; names unknown features from the image's table. */
    static void checkFeatures(Header h, boolean writable, String file) throws Qcow2Exception {
        if (h.extension(HeaderExtension.FULL_DISK_ENCRYPTION) != null) {
            throw new Qcow2Exception(file, "encrypted images (LUKS) are not supported");
        }
        if (h.has(Feature.EXTERNAL_DATA_FILE) || h.extension(HeaderExtension.EXTERNAL_DATA_FILE) != null) {
            throw new Qcow2Exception(file, "images with an external data file are not supported");
        }
        long unknown = h.incompatibleFeatures() & ~Feature.KNOWN_INCOMPATIBLE;
        if (unknown != 0) {
            HeaderExtension t = h.extension(HeaderExtension.FEATURE_NAME_TABLE);
            List<FeatureNameTable.Entry> table = t == null ? List.of() : FeatureNameTable.decode(t.data());
            List<String> names = new ArrayList<>();
            for (int bit = 0; bit < 64; bit++) {
                if ((unknown & (1L << bit)) != 0) {
                    String n = FeatureNameTable.nameOf(table, Feature.Kind.INCOMPATIBLE, bit);
                    names.add(n != null ? n : "Unknown incompatible feature: " + Long.toHexString(1L << bit));
                }
            }
            throw new Qcow2Exception(file, "Unsupported qcow2 feature(s): " + String.join(", ", names));
        }
        if (writable && h.has(Feature.CORRUPT)) {
            throw new Qcow2Exception(file, "image is marked corrupt and cannot be opened read/write"
                    + " (run 'qjournal check -r all' first)");
        }
    }

    static BlockDevice openBacking(Header h, Path imagePath, PathPolicy policy, int depth) throws IOException {
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
        Path open = allowedFile(backing, policy, PathPolicy.Role.BACKING_FILE, imagePath);
        String fmt = h.backingFormat();
        if (fmt == null) {
            fmt = probeFormat(open);
        }
        switch (fmt) {
            case "raw":
                return RawImage.open(open);
            case "qcow2":
                return ImageOpener.open(backing, open, OpenOptions.readOnly().lock(false).pathPolicy(policy),
                        depth + 1);
            default:
                throw new Qcow2Exception(file, "backing file format '" + fmt + "' is not supported");
        }
    }

    /**
     * The file to open for {@code path}: the path itself without a policy, else its real path
     * once the policy allowed it.
     */
    static Path allowedFile(Path path, PathPolicy policy, PathPolicy.Role role, Path referrer) throws IOException {
        if (policy == null) {
            return path;
        }
        Path real;
        try {
            real = path.toRealPath();
        } catch (NoSuchFileException e) {
            throw new Qcow2Exception(referrer == null ? path.toString() : referrer.toString(),
                    (referrer == null ? "" : role + " " + path + ": ") + "No such file or directory");
        }
        policy.check(real, role, referrer);
        return real;
    }

    static String probeFormat(Path path) throws IOException {
        byte[] magic = new byte[4];
        try (var in = Files.newInputStream(path)) {
            if (in.readNBytes(magic, 0, 4) == 4
                    && java.nio.ByteBuffer.wrap(magic).getInt() == Header.MAGIC) {
                return "qcow2";
            }
        }
        return "raw";
    }
}
