package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.daemon.nbd.NbdLimits;
import io.qjournal.daemon.nbd.NbdProtocol;
import io.qjournal.daemon.nbd.NbdTestClient;
import io.qjournal.qcow2.testsupport.QemuTools;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * 1,000 hostile NBD connections against a real qjournald: its resident memory (VmRSS of the
 * child JVM) grows by no more than the configured bound, nbd-max-connections x 128 KiB +
 * nbd-buffer-pool, plus a fixed allowance for the connections' own objects.
 */
class NbdMemoryBoundIT {
    private static final int BIG = 32 << 20;
    private static final int MAX_CONNECTIONS = 1100;
    private static final long POOL = 40L << 20;
    /** Heap and Netty objects of 1,000 connections, JIT and GC growth: not request memory. */
    private static final long FIXED_ALLOWANCE = 48L << 20;

    @TempDir
    Path dir;

    @Test
    void aThousandHostileConnectionsStayWithinTheMemoryBound() throws Exception {
        QemuTools.assumeAvailable();
        Path img = dir.resolve("a.qcow2");
        QemuTools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "64M").requireSuccess();
        int port = DaemonProcess.freePort();
        List<SocketChannel> hostile = new ArrayList<>();
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("qjournald.log"), Map.of(), List.of(
                "--image", "a=" + img, "--jmx", "off", "--nbd", "127.0.0.1:" + port,
                "--nbd-max-connections", String.valueOf(MAX_CONNECTIONS), "--nbd-buffer-pool", "40M"))) {
            d.awaitReady();
            InetSocketAddress addr = new InetSocketAddress("127.0.0.1", port);
            try (NbdTestClient warm = NbdTestClient.connect(addr, "a")) {
                for (int i = 0; i < 16; i++) {
                    warm.write((long) i << 20, new byte[1 << 20], false);
                    warm.read((long) i << 20, 1 << 20);
                }
            }
            Thread.sleep(1000);
            long baseline = rss(d.pid());
            try {
                // READs first: their replies are real memory, which a budget counted from
                // headers alone would let them fill.
                for (int i = 0; i < 1000; i++) {
                    hostile.add(hostileConnection(addr, i < 400 ? 3 : i % 3));
                }
                long peak = 0;
                for (int i = 0; i < 30; i++) {
                    Thread.sleep(100);
                    peak = Math.max(peak, rss(d.pid()));
                }
                long bound = new NbdLimits(Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofSeconds(30), POOL)
                        .memoryBound(MAX_CONNECTIONS) + FIXED_ALLOWANCE;
                System.out.println("NbdMemoryBoundIT: resident memory " + baseline / (1 << 20) + " MiB before, "
                        + peak / (1 << 20) + " MiB at most with 1000 hostile connections; bound +" + bound / (1 << 20)
                        + " MiB");
                assertTrue(peak - baseline <= bound, "resident memory grew by " + (peak - baseline) / (1 << 20)
                        + " MiB (from " + baseline / (1 << 20) + " MiB), bound " + bound / (1 << 20) + " MiB");
                try (NbdTestClient good = NbdTestClient.connect(addr, "a")) {
                    good.socket().setSoTimeout(2000);
                    assertEquals(4096, good.read(0, 4096).length);
                }
            } finally {
                for (SocketChannel ch : hostile) {
                    ch.close();
                }
            }
        }
    }

    /** 0: stalls in the handshake; 1: a 32 MiB WRITE header alone; 2: its first 256 KiB; 3: two 32 MiB READs never read. */
    private static SocketChannel hostileConnection(InetSocketAddress addr, int kind) throws IOException {
        SocketChannel ch = SocketChannel.open();
        ch.setOption(StandardSocketOptions.SO_RCVBUF, 4096);
        ch.connect(addr);
        if (kind == 0) {
            return ch;
        }
        readFully(ch, 18); // greeting
        byte[] name = "a".getBytes(StandardCharsets.US_ASCII);
        ByteBuffer hello = ByteBuffer.allocate(4 + 16 + name.length);
        hello.putInt(NbdProtocol.FLAG_C_FIXED_NEWSTYLE | NbdProtocol.FLAG_C_NO_ZEROES)
                .putLong(NbdProtocol.IHAVEOPT).putInt(NbdProtocol.OPT_EXPORT_NAME).putInt(name.length).put(name).flip();
        writeFully(ch, hello);
        readFully(ch, 10); // size and transmission flags
        if (kind == 3) {
            writeFully(ch, header(NbdProtocol.CMD_READ, 0));
            writeFully(ch, header(NbdProtocol.CMD_READ, BIG));
            return ch;
        }
        writeFully(ch, header(NbdProtocol.CMD_WRITE, 0));
        if (kind == 2) {
            ch.configureBlocking(false);
            ch.write(ByteBuffer.allocate(256 << 10)); // as much as the socket takes now
        }
        return ch;
    }

    private static ByteBuffer header(int type, long offset) {
        ByteBuffer b = ByteBuffer.allocate(28);
        b.putInt(NbdProtocol.REQUEST_MAGIC).putShort((short) 0).putShort((short) type).putLong(offset)
                .putLong(offset).putInt(BIG).flip();
        return b;
    }

    private static void readFully(SocketChannel ch, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                throw new IOException("server closed the connection");
            }
        }
    }

    private static void writeFully(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    private static long rss(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) << 10;
            }
        }
        throw new IOException("no VmRSS in /proc/" + pid + "/status");
    }
}
