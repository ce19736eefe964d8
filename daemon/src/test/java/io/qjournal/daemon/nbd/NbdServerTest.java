package io.qjournal.daemon.nbd;

import static io.qjournal.daemon.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Commands of the transmission phase against a memory export. */
class NbdServerTest {
    private final MemoryExport disk = new MemoryExport("disk", 8 << 20, false);
    private final MemoryExport ro = new MemoryExport("ro", 1 << 20, true);
    private NbdServer server;

    @BeforeEach
    void start() throws Exception {
        server = new NbdServer(new MemoryExports().add(disk).add(ro),
                NbdServer.Config.defaults(new InetSocketAddress("127.0.0.1", 0)).withLog(l -> { }));
        server.start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private NbdTestClient client(String name) throws Exception {
        return NbdTestClient.connect(server.tcpAddress(), name);
    }

    @Test
    void writeReadFlushRoundTrip() throws Exception {
        try (NbdTestClient c = client("disk")) {
            assertEquals(8 << 20, c.size());
            assertTrue(c.structured());
            int f = c.transmissionFlags();
            assertEquals(FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES
                    | FLAG_CAN_MULTI_CONN | FLAG_SEND_DF, f);
            byte[] data = new byte[10000];
            new Random(1).nextBytes(data);
            c.write(12345, data, false);
            assertArrayEquals(data, c.read(12345, data.length));
            long before = disk.flushes.get();
            c.flush();
            assertEquals(before + 1, disk.flushes.get());
            c.write(0, new byte[] {1, 2, 3}, true);
            assertEquals(1, disk.fuaWrites.get());
            assertArrayEquals(new byte[] {1, 2, 3, 0}, c.read(0, 4));
            c.disconnect();
        }
    }
}
