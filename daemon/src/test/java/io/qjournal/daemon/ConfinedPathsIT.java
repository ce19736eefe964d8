package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuTools;
import io.qjournal.qcow2.testsupport.QemuTools.Result;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Paths confined: the daemon opens images and backing files only inside the allowed
 * directories (every --image-dir, every --allow-dir, the directory of each --image), checked by
 * real path. A crafted qcow2 whose backing file is /etc/passwd is refused and real NBD clients
 * (qemu-io, nbdinfo) cannot read a byte of it, while the daemon keeps serving its other images.
 */
class ConfinedPathsIT {
    private static final String RULE = "is outside the allowed directories (--image-dir, --allow-dir,"
            + " directories of --image)";
    private static final Path PASSWD = Path.of("/etc/passwd");

    @TempDir
    Path dir;

    private Path images;
    private Path outside;
    private Path sock;
    private int jmxPort;

    private void dirs() throws Exception {
        images = Files.createDirectory(dir.resolve("images"));
        outside = Files.createDirectory(dir.resolve("outside"));
        sock = dir.resolve("nbd.sock");
        jmxPort = DaemonProcess.freePort();
    }

    private static void qcow2(Path p, String... backing) {
        List<String> args = new ArrayList<>(List.of("create", "-q", "-f", "qcow2"));
        if (backing.length == 2) {
            args.addAll(List.of("-b", backing[0], "-F", backing[1]));
        }
        args.addAll(List.of(p.toString(), "1M"));
        QemuTools.qemuImg(args.toArray(String[]::new)).requireSuccess();
    }

    private static void write(Path p, int pattern) {
        QemuTools.qemuIo("-f", "qcow2", "-c", "write -P " + pattern + " 0 64k", p.toString()).requireSuccess();
    }

    private DaemonProcess start(String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("--nbd", "off", "--nbd-socket", sock.toString(),
                "--jmx", "127.0.0.1:" + jmxPort, "--jmx-no-auth"));
        args.addAll(Arrays.asList(extra));
        return DaemonProcess.start(dir.resolve("qjournald.log"), Map.of(), args);
    }

    private static void openImage(Jmx jmx, String name, Path path) throws Exception {
        jmx.mbs.invoke(new ObjectName("qjournal:type=Daemon"), "openImage", new Object[] {name, path.toString()},
                new String[] {String.class.getName(), String.class.getName()});
    }

    /** openImage must fail; returns every message of the error as the JMX client sees it. */
    private static String refused(Jmx jmx, String name, Path path) {
        Throwable t = assertThrows(Exception.class, () -> openImage(jmx, name, path));
        StringBuilder b = new StringBuilder();
        for (; t != null; t = t.getCause()) {
            b.append(t.getMessage()).append(" | ");
        }
        return b.toString();
    }

    private String uri(String export) {
        return "nbd+unix:///" + export + "?socket=" + sock;
    }

    private static List<String> images(Jmx jmx) throws Exception {
        return Arrays.asList((String[]) jmx.daemon("Images"));
    }

    /** A read with a pattern check by qemu-io through the daemon's NBD socket. */
    private void readsPattern(String export, int pattern) {
        Result r = QemuTools.qemuIo("-r", "-f", "raw", "-c", "read -P " + pattern + " 0 64k", uri(export));
        r.requireSuccess();
        String all = r.stdout() + r.stderr();
        assertFalse(all.contains("failed") || all.contains("error"), all);
    }

    @Test
    void jmxOpenImageOutsideTheRootsOrThroughASymlinkIsRefused() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        dirs();
        qcow2(images.resolve("vm1.qcow2"));
        Path out = outside.resolve("out.qcow2");
        qcow2(out);
        // A sibling whose name merely starts with the root's: containment is by path component.
        Path sibling = Files.createDirectory(dir.resolve("images2")).resolve("sib.qcow2");
        qcow2(sibling);
        Path allowed = Files.createDirectory(dir.resolve("allowed"));
        Path extra = allowed.resolve("extra.qcow2");
        qcow2(extra);
        write(extra, 0x21);
        try (DaemonProcess d = start("--image-dir", images.toString(), "--allow-dir", allowed.toString())) {
            d.awaitReady();
            try (Jmx jmx = new Jmx(jmxPort)) {
                String e = refused(jmx, "out", out);
                String line = out.toRealPath() + " " + RULE;
                assertTrue(e.contains("out: " + line), e);
                d.awaitLog("[image out] cannot open " + out + ": " + line, 10);

                e = refused(jmx, "sib", sibling);
                assertTrue(e.contains(sibling.toRealPath() + " " + RULE), e);

                // A symlink inside the image dir that points outside: judged by where it leads.
                Path link = Files.createSymbolicLink(images.resolve("link.qcow2"), out);
                e = refused(jmx, "link", link);
                assertTrue(e.contains("link: " + out.toRealPath() + " " + RULE), e);
                d.awaitLog("[image link] cannot open " + link + ": " + out.toRealPath() + " " + RULE, 10);

                // --allow-dir makes another directory allowed.
                openImage(jmx, "extra", extra);
                assertEquals(List.of("extra", "vm1"), images(jmx));
                readsPattern("extra", 0x21);
            }
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
        }
    }

    @Test
    void backingFilesOutsideTheRootsAreNeverServed() throws Exception {
        QemuTools.assumeAvailable("qemu-io", "nbdinfo");
        dirs();
        Path vm1 = images.resolve("vm1.qcow2");
        qcow2(vm1);
        write(vm1, 0x11);
        // An overlay whose base sits beside it (not *.qcow2, so not served itself) keeps working.
        Path base = images.resolve("base.img");
        qcow2(base);
        write(base, 0x33);
        qcow2(images.resolve("ov.qcow2"), "base.img", "qcow2");
        Path secret = outside.resolve("secret.raw");
        Files.write(secret, new byte[1 << 20]);
        try (DaemonProcess d = start("--image-dir", images.toString())) {
            d.awaitReady();
            readsPattern("ov", 0x33);
            try (Jmx jmx = new Jmx(jmxPort)) {
                // What a tenant uploads: a qcow2 whose backing file is /etc/passwd, format raw.
                Path evil = images.resolve("evil.qcow2");
                qcow2(evil, PASSWD.toString(), "raw");
                String line = "backing file " + PASSWD.toRealPath() + " (of " + evil + ") " + RULE;
                String e = refused(jmx, "evil", evil);
                assertTrue(e.contains("evil: " + line), e);
                d.awaitLog("[image evil] cannot open " + evil + ": " + line, 10);

                // Real NBD clients cannot reach it; the other images are served as before.
                Result list = QemuTools.run("nbdinfo", "--list", uri(""));
                list.requireSuccess();
                assertFalse(list.stdout().contains("evil"), list.stdout());
                assertTrue(list.stdout().contains("vm1"), list.stdout());
                Result read = QemuTools.qemuIo("-r", "-f", "raw", "-c", "read -v 0 512", uri("evil"));
                String all = read.stdout() + read.stderr();
                assertNotEquals(0, read.exitCode(), all);
                String passwd = Files.readString(PASSWD, StandardCharsets.UTF_8);
                assertFalse(all.contains(passwd.substring(0, Math.min(4, passwd.length()))), all);
                readsPattern("vm1", 0x11);

                // A base that is a symlink inside the dir pointing outside is judged by where it leads.
                Files.createSymbolicLink(images.resolve("base-link.img"), secret);
                Path viaLink = images.resolve("via-link.qcow2");
                qcow2(viaLink, "base-link.img", "raw");
                e = refused(jmx, "via-link", viaLink);
                assertTrue(e.contains("backing file " + secret.toRealPath() + " (of " + viaLink + ") " + RULE), e);

                // Deeper in the chain: top -> mid (inside) -> secret (outside).
                Path mid = images.resolve("mid.img");
                qcow2(mid, secret.toString(), "raw");
                Path top = images.resolve("top.qcow2");
                qcow2(top, "mid.img", "qcow2");
                e = refused(jmx, "top", top);
                assertTrue(e.contains("backing file " + secret.toRealPath() + " (of " + mid + ") " + RULE), e);

                // External data files are refused by the engine whatever their place.
                Path df = images.resolve("df.qcow2");
                QemuTools.qemuImg("create", "-q", "-f", "qcow2", "-o", "data_file=" + outside.resolve("df.raw"),
                        df.toString(), "1M").requireSuccess();
                e = refused(jmx, "df", df);
                assertTrue(e.contains("images with an external data file are not supported"), e);

                assertEquals(List.of("ov", "vm1"), images(jmx));
            }
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
        }
    }

    @Test
    void aCraftedImageInTheImageDirFailsTheStartWithOneLine() throws Exception {
        QemuTools.assumeAvailable();
        dirs();
        qcow2(images.resolve("vm1.qcow2"));
        Path evil = images.resolve("evil.qcow2");
        qcow2(evil, PASSWD.toString(), "raw");
        try (DaemonProcess d = start("--image-dir", images.toString())) {
            assertEquals(1, d.awaitExit(60), d.output());
            String out = d.output();
            assertTrue(out.contains("[image evil] cannot open " + evil + ": backing file " + PASSWD.toRealPath()
                    + " (of " + evil + ") " + RULE), out);
            assertFalse(out.contains("ready:"), out);
            assertFalse(out.contains("Exception"), out);
        }
    }

    @Test
    void theDirectoryOfAStartImageIsARoot() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        dirs();
        Path other = Files.createDirectory(dir.resolve("other"));
        Path base = other.resolve("base.img");
        qcow2(base);
        write(base, 0x44);
        Path vm = other.resolve("vm.qcow2");
        qcow2(vm, "base.img", "qcow2");
        Path late = other.resolve("late.qcow2");
        qcow2(late);
        Path out = outside.resolve("out.qcow2");
        qcow2(out);
        try (DaemonProcess d = start("--image", "vm=" + vm)) {
            d.awaitReady();
            readsPattern("vm", 0x44);
            try (Jmx jmx = new Jmx(jmxPort)) {
                openImage(jmx, "late", late);
                String e = refused(jmx, "out", out);
                assertTrue(e.contains(out.toRealPath() + " " + RULE), e);
                assertEquals(List.of("late", "vm"), images(jmx));
            }
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
        }
    }
}
