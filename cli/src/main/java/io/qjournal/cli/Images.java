package io.qjournal.cli;

import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Opening images by name and format, as the commands need them. */
public final class Images {
    private static final int QCOW2_MAGIC = 0x514649fb;

    private Images() {
    }

    /** "qcow2" when the file starts with the qcow2 magic, else "raw" (as qemu-img probes). */
    public static String probe(Path path) {
        byte[] b = new byte[4];
        int n;
        try (InputStream in = Files.newInputStream(path)) {
            n = in.readNBytes(b, 0, 4);
        } catch (NoSuchFileException e) {
            throw new CliException(path + ": No such file or directory");
        } catch (AccessDeniedException e) {
            throw new CliException(path + ": Permission denied");
        } catch (IOException e) {
            throw new CliException(path + ": " + e.getMessage());
        }
        int magic = ((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
        return n == 4 && magic == QCOW2_MAGIC ? "qcow2" : "raw";
    }

    /** The format to use: the one given (validated) or the probed one. */
    public static String format(Path path, String given) {
        if (given == null) {
            return probe(path);
        }
        checkFormatName(given);
        if (given.equals("qcow2") && !probe(path).equals("qcow2")) {
            throw new CliException(path + ": Image is not in qcow2 format");
        }
        return given;
    }

    public static void checkFormatName(String fmt) {
        if (!fmt.equals("qcow2") && !fmt.equals("raw")) {
            throw new CliException("Unknown file format '" + fmt + "'");
        }
    }

    public static Qcow2Image openQcow2(Path path, boolean writable, boolean lock, boolean backing) throws IOException {
        OpenOptions o = (writable ? OpenOptions.readWrite() : OpenOptions.readOnly()).lock(lock).openBacking(backing);
        return Qcow2Image.open(path, o);
    }

    public static Disk open(Path path, String fmt, boolean writable, boolean lock) throws IOException {
        return open(path, fmt, writable, lock, null);
    }

    /** Opens a qcow2 image or raw file; {@code journal} (qcow2 only) opens with the metadata journal. */
    public static Disk open(Path path, String fmt, boolean writable, boolean lock, JournalOptions journal)
            throws IOException {
        String f = format(path, fmt);
        if (f.equals("qcow2")) {
            OpenOptions o = (writable ? OpenOptions.readWrite() : OpenOptions.readOnly()).lock(lock).journal(journal);
            return Disk.of(Qcow2Image.open(path, o));
        }
        if (journal != null) {
            throw new CliException(path + ": --journal needs a qcow2 image");
        }
        return Disk.of(RawDevice.open(path, writable, lock));
    }

    /** Bytes the file occupies on disk (st_blocks * 512), for raw files' actual-size. */
    public static long allocatedBytes(Path path) {
        try {
            Process p = new ProcessBuilder("stat", "-c", "%b %B", path.toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            if (p.waitFor(5, TimeUnit.SECONDS) && p.exitValue() == 0) {
                String[] parts = out.split(" ");
                return Long.parseLong(parts[0]) * Long.parseLong(parts[1]);
            }
        } catch (IOException | NumberFormatException | ArrayIndexOutOfBoundsException e) {
            // fall through to the apparent size
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            return Files.size(path);
        } catch (IOException e) {
            return 0;
        }
    }

    /** The backing file name as QEMU resolves it: relative names are relative to the image. */
    public static String fullBackingName(String image, String backing) {
        if (backing.startsWith("/") || backing.contains(":")) {
            return backing;
        }
        int slash = image.lastIndexOf('/');
        return slash < 0 ? backing : image.substring(0, slash + 1) + backing;
    }

}
