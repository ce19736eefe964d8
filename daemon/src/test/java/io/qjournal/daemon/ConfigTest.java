package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigTest {
    @TempDir
    Path dir;

    private DaemonConfig parse(String... args) throws ConfigException {
        // No default file: the test machine's /etc must not leak in.
        return DaemonConfig.parse(args, dir.resolve("absent.conf"));
    }

    private String error(String... args) {
        return assertThrows(ConfigException.class, () -> parse(args)).getMessage();
    }

    private Path file(String text) throws Exception {
        Path p = dir.resolve("q.conf");
        Files.writeString(p, text);
        return p;
    }

    @Test
    void defaults() throws Exception {
        DaemonConfig c = parse("--image", "a=/x/a.qcow2", "--jmx-no-auth");
        assertEquals("127.0.0.1", c.nbd.getHostString());
        assertEquals(10809, c.nbd.getPort());
        assertEquals(9010, c.jmx.getPort());
        assertNull(c.nbdSocket);
        ImageSpec a = c.images.get(0);
        assertEquals("a", a.name());
        assertEquals(Path.of("/x/a.qcow2"), a.path());
        assertFalse(a.readOnly());
        assertTrue(a.journal(), "journal is on for read-write images by default");
        assertNull(a.commitInterval());
        assertFalse(c.debug);
    }

    @Test
    void imageOptions() throws Exception {
        ImageSpec s = ImageSpec.parse("vm1=/i/vm1.qcow2,journal=on,commit-interval=250ms,commit-datasize=4M");
        assertTrue(s.journal());
        assertEquals(Duration.ofMillis(250), s.commitInterval());
        assertEquals(4L << 20, s.commitDatasize());
        assertEquals(Duration.ofMillis(250), s.journalOptions().commitInterval());
        ImageSpec ro = ImageSpec.parse("base=/i/base.qcow2,readonly=on");
        assertTrue(ro.readOnly());
        assertFalse(ro.journal(), "a read-only image has no live journal");
        assertNull(ro.journalOptions());
        ImageSpec off = ImageSpec.parse("x=/i/x.qcow2,journal=off");
        assertFalse(off.journal());
    }

    @Test
    void badImageSpecs() {
        assertEquals("image 'a': expected NAME=PATH[,journal=on|off][,readonly=on][,commit-interval=…]"
                + "[,commit-datasize=…]", error("--image", "a"));
        assertTrue(error("--image", "a=").contains("missing path"));
        assertTrue(error("--image", "a=/x,bogus=1").contains("unknown option 'bogus'"));
        assertTrue(error("--image", "a=/x,journal=maybe").contains("journal takes on or off, not 'maybe'"));
        assertTrue(error("--image", "a=/x,readonly=on,journal=on").contains("journal=on needs a read-write image"));
        assertTrue(error("--image", "a=/x,commit-interval=soon").contains("invalid duration 'soon'"));
        assertTrue(error("--image", "a=/x,journal=off,commit-interval=1s").contains("need journal=on"));
        assertTrue(error("--image", "a/b=/x").contains("name 'a/b' must be"));
        assertTrue(error("--image", "a=/x", "--image", "a=/y", "--jmx-no-auth").contains("'a' given twice"));
    }

    @Test
    void badFlags() {
        assertTrue(error("--bogus").contains("Unknown option: '--bogus'"));
        assertEquals("--nbd 'localhost': expected HOST:PORT (or off)", error("--nbd", "localhost"));
        assertEquals("--nbd '127.0.0.1:99999': port must be 0 to 65535", error("--nbd", "127.0.0.1:99999"));
        assertEquals("--jmx '127.0.0.1:x': port must be a number", error("--jmx", "127.0.0.1:x"));
        assertTrue(error("--jmx", "0.0.0.0:9010", "--jmx-no-auth").contains("only allowed with a loopback"));
        assertTrue(error("--image", "a=/x").contains("needs --jmx-password-file"));
        assertTrue(error("--nbd", "off", "--jmx", "off").contains("no nbd-socket"));
        assertTrue(error("--config", dir.resolve("nope.conf").toString()).endsWith("cannot read config file (no such file)"));
    }

    @Test
    void fileAndFlagsOverride() throws Exception {
        Path f = file("# comment\n\n image = a=/f/a.qcow2 \nimage=b=/f/b.qcow2,readonly=on\n"
                + "image-dir = /srv/images\nnbd = 127.0.0.1:10900\nnbd-socket = /run/q.sock\n"
                + "jmx = 127.0.0.1:9100\njmx-no-auth = true\ndebug = on\n");
        DaemonConfig c = parse("--config", f.toString(), "--nbd", "127.0.0.1:10901", "--image", "b=/flag/b.qcow2");
        assertEquals(f, c.configFile);
        assertEquals(10901, c.nbd.getPort(), "the flag wins over the file");
        assertEquals(9100, c.jmx.getPort());
        assertEquals(Path.of("/run/q.sock"), c.nbdSocket);
        assertTrue(c.jmxNoAuth);
        assertTrue(c.debug);
        assertEquals(List.of(Path.of("/srv/images")), c.imageDirs);
        assertEquals(2, c.images.size());
        assertEquals(Path.of("/f/a.qcow2"), c.images.get(0).path());
        assertEquals(Path.of("/flag/b.qcow2"), c.images.get(1).path(), "a flag image replaces the file's");
        assertFalse(c.images.get(1).readOnly());
    }

    @Test
    void relativePathsInTheFileAreRelativeToIt() throws Exception {
        Path f = file("jmx = off\nimage = a=imgs/a.qcow2\nimage-dir = more\n");
        DaemonConfig c = parse("--config", f.toString(), "--image", "b=rel/b.qcow2");
        assertEquals(dir.resolve("imgs/a.qcow2"), c.images.get(0).path());
        assertEquals(List.of(dir.resolve("more")), c.imageDirs);
        assertEquals(Path.of("rel/b.qcow2"), c.images.get(1).path(), "flags stay relative to the working directory");
    }

    @Test
    void defaultFileOnlyWhenPresentAndNoConfigFlag() throws Exception {
        Path def = dir.resolve("default.conf");
        Files.writeString(def, "jmx = off\nnbd = 127.0.0.1:10999\n");
        DaemonConfig c = DaemonConfig.parse(new String[0], def);
        assertEquals(def, c.configFile);
        assertNull(c.jmx);
        assertEquals(10999, c.nbd.getPort());
        Path other = file("jmx = off\n");
        DaemonConfig d = DaemonConfig.parse(new String[] {"--config", other.toString()}, def);
        assertEquals(10809, d.nbd.getPort(), "--config replaces the default file");
    }

    @Test
    void badFiles() throws Exception {
        Path f = file("nbd = 127.0.0.1:1\nport = 7\n");
        assertEquals(f + " line 2: unknown key 'port' (known: " + String.join(", ", new java.util.TreeSet<>(
                DaemonConfig.KEYS)) + ")", error("--config", f.toString()));
        assertTrue(error("--config", f.toString()).contains(" debug, image, image-dir, jmx, "));
        f = file("just words\n");
        assertEquals(f + " line 1: expected 'key = value', got 'just words'", error("--config", f.toString()));
        f = file("nbd = 127.0.0.1:1\nnbd = 127.0.0.1:2\njmx = off\n");
        assertEquals(f + ": key 'nbd' given 2 times", error("--config", f.toString()));
        f = file("jmx = off\nimage = a=/x,journal=perhaps\n");
        assertTrue(error("--config", f.toString()).startsWith(f + ": image 'a': journal takes on or off"));
        f = file("jmx = off\ndebug = sometimes\n");
        assertEquals(f + ": debug takes true or false, not 'sometimes'", error("--config", f.toString()));
    }

    @Test
    void imageDirNamesAndConflicts() throws Exception {
        Path images = Files.createDirectory(dir.resolve("images"));
        Files.createFile(images.resolve("vm1.qcow2"));
        Files.createFile(images.resolve("vm2.qcow2"));
        Files.createFile(images.resolve("notes.txt"));
        DaemonConfig c = parse("--image-dir", images.toString(), "--jmx", "off");
        List<ImageSpec> specs = Qjournald.resolveImages(c);
        assertEquals(List.of("vm1", "vm2"), specs.stream().map(ImageSpec::name).toList());
        assertTrue(specs.get(0).journal());
        DaemonConfig clash = parse("--image-dir", images.toString(), "--image", "vm1=/other.qcow2", "--jmx", "off");
        String m = assertThrows(ConfigException.class, () -> Qjournald.resolveImages(clash)).getMessage();
        assertEquals("image name 'vm1' from image-dir " + images + " is already used by /other.qcow2", m);
        DaemonConfig missing = parse("--image-dir", dir.resolve("none").toString(), "--jmx", "off");
        assertThrows(ConfigException.class, () -> Qjournald.resolveImages(missing));
    }

    @Test
    void packagedConfigParses() throws Exception {
        Path packaged = DaemonProcess.home().resolve("etc/qjournald.conf");
        DaemonConfig c = parse("--config", packaged.toString());
        assertEquals(List.of(Path.of("/var/lib/qjournal/images")), c.imageDirs);
        assertEquals(10809, c.nbd.getPort());
        assertEquals(Path.of("/run/qjournald/nbd.sock"), c.nbdSocket);
        assertEquals(9010, c.jmx.getPort());
        assertEquals(Path.of("/etc/qjournal/jmxremote.password"), c.jmxPasswordFile);
        assertFalse(c.jmxNoAuth);
    }

    @Test
    void helpAndVersion() throws Exception {
        assertEquals(DaemonConfig.Action.HELP, parse("--help").action);
        assertEquals(DaemonConfig.Action.VERSION, parse("--version").action);
        assertTrue(DaemonConfig.usage().contains("--image-dir"));
    }

    @Test
    void allowDirsFromFlagsAndFileAddUp() throws Exception {
        Path f = file("jmx = off\nallow-dir = shared\nallow-dir = /srv/bases\n");
        DaemonConfig c = parse("--config", f.toString(), "--allow-dir", "/opt/more");
        assertEquals(List.of(dir.resolve("shared"), Path.of("/srv/bases"), Path.of("/opt/more")), c.allowDirs);
        assertTrue(DaemonConfig.usage().contains("--allow-dir"));
    }

    @Test
    void nbdLimitsHaveDefaultsFlagsAndKeys() throws Exception {
        DaemonConfig d = parse("--jmx", "off");
        assertEquals(1024, d.nbdMaxConnections);
        assertEquals(io.qjournal.daemon.nbd.NbdLimits.defaults(), d.nbdLimits);
        assertEquals(java.time.Duration.ofSeconds(10), d.nbdLimits.handshakeTimeout());
        d = parse("--jmx", "off", "--nbd-max-connections", "50", "--nbd-handshake-timeout", "2s", "--nbd-payload-timeout", "500ms",
                "--nbd-reply-timeout", "1m", "--nbd-buffer-pool", "64M");
        assertEquals(50, d.nbdMaxConnections);
        assertEquals(java.time.Duration.ofSeconds(2), d.nbdLimits.handshakeTimeout());
        assertEquals(java.time.Duration.ofMillis(500), d.nbdLimits.payloadTimeout());
        assertEquals(java.time.Duration.ofMinutes(1), d.nbdLimits.replyTimeout());
        assertEquals(64L << 20, d.nbdLimits.bufferPool());
        Path f = file("jmx = off\nnbd-max-connections = 7\nnbd-reply-timeout = 3s\n");
        d = parse("--config", f.toString());
        assertEquals(7, d.nbdMaxConnections);
        assertEquals(java.time.Duration.ofSeconds(3), d.nbdLimits.replyTimeout());
    }

    @Test
    void badNbdLimitsAreOneLineErrors() {
        assertEquals("nbd-max-connections takes a positive number, not '0'", error("--nbd-max-connections", "0"));
        assertEquals("nbd-handshake-timeout: invalid duration 'soon' (use e.g. 5s or 250ms)",
                error("--nbd-handshake-timeout", "soon"));
        assertEquals("nbd-payload-timeout must be between 1ms and 24h, not '0s'", error("--nbd-payload-timeout", "0s"));
        assertEquals("nbd-buffer-pool must be at least 33M, not '1M'", error("--nbd-buffer-pool", "1M"));
    }
}
