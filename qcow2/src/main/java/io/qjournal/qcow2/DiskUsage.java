package io.qjournal.qcow2;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** st_blocks of a file, which Java's attribute views do not expose: asked of stat(1). */
final class DiskUsage {
    private DiskUsage() {
    }

    static long allocatedBytes(Path path) {
        try {
            Process p = new ProcessBuilder("stat", "-c", "%b %B", path.toString())
                    .redirectErrorStream(true).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(5, TimeUnit.SECONDS) || p.exitValue() != 0) {
                return -1;
            }
            String[] f = new String(out, StandardCharsets.US_ASCII).trim().split("\\s+");
            return Long.parseLong(f[0]) * Long.parseLong(f[1]);
        } catch (IOException | NumberFormatException | ArrayIndexOutOfBoundsException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }
}
