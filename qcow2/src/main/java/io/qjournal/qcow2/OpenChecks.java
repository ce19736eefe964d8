package io.qjournal.qcow2;

import io.qjournal.qcow2.header.Feature;
import io.qjournal.qcow2.header.FeatureNameTable;
import io.qjournal.qcow2.header.Header;
import io.qjournal.qcow2.header.HeaderExtension;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** What an open checks before it reads an image: the header's features, the path policy, the format. */
final class OpenChecks {
    private OpenChecks() {
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
