package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollDomainDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainDatagramPacket;
import io.netty.channel.unix.DomainSocketAddress;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Starts bin/qjournald as the unit's ExecStart does, with NOTIFY_SOCKET pointing at a Unix
 * datagram socket this test listens on: READY=1 must come only when every image is open (one
 * with a dirty journal to replay) and both the NBD and the JMX port accept; STOPPING=1 on
 * SIGTERM, exit status 0, and every image clean for qemu-img afterwards.
 */
class NotifyReadyIT {
    @TempDir
    Path dir;

    /** One datagram and what the ports said at the moment it arrived. */
    record Message(String text, boolean nbdAccepted, boolean jmxAccepted) {
    }

    /** Listens on a Unix datagram socket; '@' names one in Linux's abstract namespace, as systemd does. */
    static Channel listen(EventLoopGroup group, String socket, BlockingQueue<Message> messages, int nbdPort,
            int jmxPort) throws InterruptedException {
        String path = socket.startsWith("@") ? "\0" + socket.substring(1) : socket;
        return new Bootstrap().group(group).channel(EpollDomainDatagramChannel.class)
                .handler(new SimpleChannelInboundHandler<DomainDatagramPacket>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DomainDatagramPacket p) {
                        String text = p.content().toString(StandardCharsets.UTF_8);
                        // Probe right now, before the daemon could bind anything later.
                        boolean ready = text.contains("READY=1");
                        messages.add(new Message(text, ready && DaemonProcess.accepts(nbdPort),
                                ready && (jmxPort == 0 || DaemonProcess.accepts(jmxPort))));
                    }
                }).bind(new DomainSocketAddress(path)).sync().channel();
    }

    @Test
    void abstractNotifySocket() throws Exception {
        QemuTools.assumeAvailable();
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", dir.resolve("a.qcow2").toString(), "16M").requireSuccess();
        int nbdPort = DaemonProcess.freePort();
        String sock = "@qjournald-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        BlockingQueue<Message> messages = new LinkedBlockingQueue<>();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        try {
            Channel listener = listen(group, sock, messages, nbdPort, 0);
            List<String> args = List.of("--image", "a=" + dir.resolve("a.qcow2"), "--nbd", "127.0.0.1:" + nbdPort,
                    "--jmx", "off");
            try (DaemonProcess d = DaemonProcess.start(dir.resolve("abstract.log"), Map.of("NOTIFY_SOCKET", sock),
                    args)) {
                Message ready = messages.poll(60, TimeUnit.SECONDS);
                assertNotNull(ready, "no READY=1 on " + sock + ":\n" + d.output());
                assertTrue(ready.text().startsWith("READY=1"), ready.text());
                assertTrue(ready.nbdAccepted(), "READY=1 before the NBD port accepted");
                d.sigterm();
                assertEquals(0, d.awaitExit(60), d.output());
                Message stopping = messages.poll(10, TimeUnit.SECONDS);
                assertNotNull(stopping, "no STOPPING=1");
                assertFalse(d.output().contains("using systemd-notify"), "sent natively:\n" + d.output());
                assertEquals("STOPPING=1", stopping.text());
            }
            listener.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }

    @Test
    void readyOnlyWhenServingAndStoppingOnSigterm() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        String[] names = {"a", "b", "dirty", "ro"};
        for (String n : names) {
            QemuTools.qemuImg("create", "-q", "-f", "qcow2", dir.resolve(n + ".qcow2").toString(), "64M")
                    .requireSuccess();
        }
        CrashingWriter.run(dir.resolve("dirty.qcow2"), 20);
        try (Qcow2Image img = Qcow2Image.open(dir.resolve("dirty.qcow2"), OpenOptions.readOnly().lock(false))) {
            assertTrue(img.journalStatusAtOpen().dirty(), "the crashed writer must leave a dirty journal");
        }

        int nbdPort = DaemonProcess.freePort();
        int jmxPort = DaemonProcess.freePort();
        Path sock = dir.resolve("notify.sock");
        BlockingQueue<Message> messages = new LinkedBlockingQueue<>();
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        try {
            Channel listener = listen(group, sock.toString(), messages, nbdPort, jmxPort);
            List<String> args = List.of("--image", "a=" + dir.resolve("a.qcow2"),
                    "--image", "b=" + dir.resolve("b.qcow2") + ",commit-interval=1s",
                    "--image", "dirty=" + dir.resolve("dirty.qcow2"),
                    "--image", "ro=" + dir.resolve("ro.qcow2") + ",readonly=on",
                    "--nbd", "127.0.0.1:" + nbdPort, "--jmx", "127.0.0.1:" + jmxPort, "--jmx-no-auth");
            try (DaemonProcess d = DaemonProcess.start(dir.resolve("qjournald.log"),
                    Map.of("NOTIFY_SOCKET", sock.toString()), args)) {
                Message ready = messages.poll(90, TimeUnit.SECONDS);
                assertNotNull(ready, "no READY=1 within 90 s:\n" + d.output());
                assertTrue(ready.text().contains("READY=1"), "first message: " + ready.text());
                assertTrue(ready.nbdAccepted(), "READY=1 before the NBD port accepted");
                assertTrue(ready.jmxAccepted(), "READY=1 before the JMX port accepted");
                d.awaitReady(); // the "ready:" log line follows the datagram
                String log = d.output();
                java.util.regex.Matcher m = java.util.regex.Pattern
                        .compile("\\[image dirty\\] replayed dirty journal \\((\\d+) transactions").matcher(log);
                assertTrue(m.find(), log);
                assertTrue(Integer.parseInt(m.group(1)) >= 1, log);
                int replayAt = log.indexOf("replayed dirty journal");
                assertTrue(replayAt < log.indexOf("qjournald: ready:"), "replay must precede readiness:\n" + log);

                try (Jmx jmx = new Jmx(jmxPort)) {
                    assertEquals(List.of("a", "b", "dirty", "ro"), List.of((String[]) jmx.daemon("Images")));
                    assertEquals(Boolean.TRUE, jmx.image("dirty", "ReplayedAtOpen"));
                    assertEquals(Boolean.FALSE, jmx.image("a", "ReplayedAtOpen"));
                    assertEquals(1000L, jmx.image("b", "CommitIntervalMillis"));
                }

                d.sigterm();
                assertEquals(0, d.awaitExit(120), "exit status after SIGTERM:\n" + d.output());
                Message stopping = messages.poll(10, TimeUnit.SECONDS);
                assertNotNull(stopping, "no STOPPING=1 on SIGTERM");
                assertFalse(d.output().contains("using systemd-notify"), "sent natively:\n" + d.output());
                assertEquals("STOPPING=1", stopping.text());
                System.out.println(d.output());
                assertTrue(d.output().contains("stopped; every image closed cleanly"), d.output());
            }
            listener.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        for (String n : names) {
            Path p = dir.resolve(n + ".qcow2");
            QemuTools.Result check = QemuTools.qemuImg("check", p.toString());
            assertEquals(0, check.exitCode(), n + ": " + check.stdout() + check.stderr());
            // A cleanly closed image carries no journal: QEMU opens it for writing.
            QemuTools.qemuIo("-c", "write -P 0x5a 0 4k", p.toString()).requireSuccess();
        }
        // The dirty image's committed writes survived the crash and the replay.
        QemuTools.qemuIo("-c", "read -P 3 " + (2L * 7 * 65536) + " 64k", dir.resolve("dirty.qcow2").toString())
                .requireSuccess();
    }
}
