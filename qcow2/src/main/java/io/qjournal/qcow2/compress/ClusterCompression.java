package io.qjournal.qcow2.compress;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdInputStreamNoFinalizer;
import io.qjournal.qcow2.Qcow2Exception;
import io.qjournal.qcow2.header.Header;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * Compressed cluster codecs as QEMU writes them: zlib clusters are raw deflate streams
 * (window bits -12), zstd clusters are one zstd frame. The stored span is rounded up to
 * 512-byte sectors, so trailing bytes after the stream are ignored.
 */
public final class ClusterCompression {
    private ClusterCompression() {
    }

    /** Decompresses exactly {@code out.length} bytes or fails with a clear message. */
    public static void decompress(int type, byte[] in, int inLen, byte[] out, String file, long hostOffset)
            throws Qcow2Exception {
        try {
            if (type == Header.COMPRESSION_ZLIB) {
                Inflater inf = new Inflater(true);
                try {
                    inf.setInput(in, 0, inLen);
                    int n = 0;
                    while (n < out.length) {
                        int k = inf.inflate(out, n, out.length - n);
                        if (k == 0 && (inf.finished() || inf.needsInput() || inf.needsDictionary())) {
                            break;
                        }
                        n += k;
                    }
                    if (n != out.length) {
                        throw new DataFormatException("stream ended after " + n + " bytes");
                    }
                } finally {
                    inf.end();
                }
            } else {
                try (ZstdInputStreamNoFinalizer zin = new ZstdInputStreamNoFinalizer(
                        new ByteArrayInputStream(in, 0, inLen))) {
                    int n = 0;
                    while (n < out.length) {
                        int k = zin.read(out, n, out.length - n);
                        if (k < 0) {
                            break;
                        }
                        n += k;
                    }
                    if (n != out.length) {
                        throw new DataFormatException("stream ended after " + n + " bytes");
                    }
                }
            }
        } catch (DataFormatException | IOException e) {
            throw new Qcow2Exception(file, String.format(
                    "compressed cluster at host offset 0x%x cannot be decompressed: %s", hostOffset, e.getMessage()));
        }
    }

    /**
     * Compresses a cluster; returns null when compression does not save space (QEMU then
     * writes the cluster uncompressed).
     */
    public static byte[] compress(int type, byte[] cluster) {
        byte[] out;
        int n;
        if (type == Header.COMPRESSION_ZLIB) {
            Deflater def = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
            try {
                def.setInput(cluster);
                def.finish();
                out = new byte[cluster.length];
                n = 0;
                while (!def.finished() && n < out.length) {
                    n += def.deflate(out, n, out.length - n);
                }
                if (!def.finished()) {
                    return null;
                }
            } finally {
                def.end();
            }
        } else {
            out = Zstd.compress(cluster, 1);
            n = out.length;
        }
        // As QEMU: stored compressed whenever the stream fits in cluster_size - 1 bytes.
        if (n > cluster.length - 1) {
            return null;
        }
        byte[] r = new byte[n];
        System.arraycopy(out, 0, r, 0, n);
        return r;
    }
}
