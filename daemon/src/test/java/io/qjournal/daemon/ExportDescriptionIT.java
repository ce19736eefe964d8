package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a real NBD client (nbdinfo) is told an export is: its name, or the operator's
 * {@code description=TEXT}; never the path of the image on the server.
 */
class ExportDescriptionIT {
    private static final Pattern DESCRIPTION = Pattern.compile("\"description\": \"([^\"]*)\"");

    @TempDir
    Path dir;

    @Test
    void byDefaultTheExportNameNotTheHostPath() throws Exception {
        QemuTools.assumeAvailable("nbdinfo");
        Path img = dir.resolve("plain.qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "1M").requireSuccess();
        serve(List.of("--image", "plain=" + img), uri -> {
            assertEquals(List.of("plain"), descriptions(QemuTools.run("nbdinfo", "--json", uri + "/plain")));
            // --list reads the descriptions from the NBD_OPT_LIST replies.
            QemuTools.Result list = QemuTools.run("nbdinfo", "--json", "--list", uri);
            assertEquals(List.of("plain"), descriptions(list));
            assertFalse((list.stdout() + list.stderr()).contains(dir.toString()), "the host path leaks:\n"
                    + list.stdout());
        });
    }

    @Test
    void descriptionOptionIsWhatClientsSee() throws Exception {
        QemuTools.assumeAvailable("nbdinfo");
        Path plain = dir.resolve("plain.qcow2");
        Path described = dir.resolve("described.qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", plain.toString(), "1M").requireSuccess();
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", described.toString(), "1M").requireSuccess();
        serve(List.of("--image", "plain=" + plain,
                "--image", "described=" + described + ",readonly=on,description=Web server, rack 4"), uri -> {
            assertEquals(List.of("Web server, rack 4"),
                    descriptions(QemuTools.run("nbdinfo", "--json", uri + "/described")));
            List<String> listed = descriptions(QemuTools.run("nbdinfo", "--json", "--list", uri));
            listed.sort(null);
            assertEquals(List.of("Web server, rack 4", "plain"), listed);
        });
    }

    private interface Client {
        void run(String uri) throws Exception;
    }

    /** Serves the images, runs the client against nbd://127.0.0.1:PORT, stops cleanly. */
    private void serve(List<String> images, Client client) throws Exception {
        int port = DaemonProcess.freePort();
        List<String> args = new ArrayList<>(images);
        args.addAll(List.of("--nbd", "127.0.0.1:" + port, "--jmx", "off"));
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("d.log"), Map.of(), args)) {
            d.awaitReady();
            client.run("nbd://127.0.0.1:" + port);
            d.sigterm();
            assertEquals(0, d.awaitExit(60), d.output());
        }
    }

    private static List<String> descriptions(QemuTools.Result r) {
        assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
        List<String> out = new ArrayList<>();
        Matcher m = DESCRIPTION.matcher(r.stdout());
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }
}
