package io.qjournal.daemon.nbd;

import static io.qjournal.daemon.nbd.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.*;

import io.qjournal.daemon.nbd.NbdTestClient.OptionReply;
import java.io.DataInputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Every option of the fixed newstyle handshake, well-formed and malformed. */
class NbdHandshakeTest {
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

    private NbdTestClient greeted() throws Exception {
        NbdTestClient c = NbdTestClient.raw(server.tcpAddress());
        c.greet();
        return c;
    }

    private static byte[] goData(String name, int... infos) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length);
        b.putInt(n.length).put(n).putShort((short) infos.length);
        for (int i : infos) {
            b.putShort((short) i);
        }
        return b.array();
    }

    private static String string(byte[] b, int from) {
        return new String(b, from, b.length - from, StandardCharsets.UTF_8);
    }

    @Test
    void greetingAdvertisesFixedNewstyleAndNoZeroes() throws Exception {
        try (NbdTestClient c = greeted()) {
            assertEquals(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, c.handshakeFlags());
        }
    }

    @Test
    void listShowsEveryExport() throws Exception {
        try (NbdTestClient c = greeted()) {
            List<OptionReply> r = c.option(OPT_LIST, new byte[0]);
            List<String> names = new ArrayList<>();
            for (OptionReply o : r) {
                if (o.type() == REP_SERVER) {
                    int len = ByteBuffer.wrap(o.data()).getInt();
                    assertTrue(len <= o.data().length - 4, "name length inside the reply");
                    String name = new String(o.data(), 4, len, StandardCharsets.UTF_8);
                    names.add(name);
                    // The description follows the name, as qemu-nbd sends it.
                    assertEquals("memory export " + name, string(o.data(), 4 + len));
                }
            }
            assertEquals(REP_ACK, r.get(r.size() - 1).type());
            names.sort(null);
            assertEquals(List.of("disk", "ro"), names);
            assertEquals(REP_ERR_INVALID, c.option(OPT_LIST, new byte[] {1}).get(0).type());
        }
    }

    @Test
    void infoReportsExportNameDescriptionAndBlockSizesWithoutEnteringTransmission() throws Exception {
        try (NbdTestClient c = greeted()) {
            List<OptionReply> r = c.option(OPT_INFO, goData("disk", INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE));
            assertEquals(REP_ACK, r.get(r.size() - 1).type());
            boolean export = false;
            boolean name = false;
            boolean description = false;
            boolean blockSize = false;
            for (OptionReply o : r) {
                if (o.type() != REP_INFO) {
                    continue;
                }
                ByteBuffer d = ByteBuffer.wrap(o.data());
                switch (d.getShort()) {
                    case INFO_EXPORT -> {
                        assertEquals(8 << 20, d.getLong());
                        assertEquals(0, d.getShort() & FLAG_READ_ONLY);
                        export = true;
                    }
                    case INFO_NAME -> name = string(o.data(), 2).equals("disk");
                    case INFO_DESCRIPTION -> description = string(o.data(), 2).equals("memory export disk");
                    case INFO_BLOCK_SIZE -> {
                        assertEquals(1, d.getInt());
                        assertEquals(4096, d.getInt());
                        assertEquals(32 << 20, d.getInt());
                        blockSize = true;
                    }
                    default -> fail("unexpected info type");
                }
            }
            assertTrue(export && name && description && blockSize, "every requested info item");
            // Still haggling: another option is answered.
            List<OptionReply> ro = c.option(OPT_INFO, goData("ro"));
            ByteBuffer d = ByteBuffer.wrap(ro.get(0).data());
            assertEquals(INFO_EXPORT, d.getShort());
            assertEquals(1 << 20, d.getLong());
            assertEquals(FLAG_READ_ONLY, d.getShort() & FLAG_READ_ONLY);
        }
    }

    @Test
    void goToUnknownExportIsErrUnknownAndTheClientMayRetry() throws Exception {
        try (NbdTestClient c = greeted()) {
            List<OptionReply> r = c.option(OPT_GO, goData("nope"));
            assertEquals(1, r.size());
            assertEquals(REP_ERR_UNKNOWN, r.get(0).type());
            assertTrue(string(r.get(0).data(), 0).contains("nope"));
            c.go("disk");
            c.write(0, new byte[] {7}, false);
            assertArrayEquals(new byte[] {7}, c.read(0, 1));
        }
    }

    @Test
    void emptyNameSelectsTheDefaultExport() throws Exception {
        try (NbdTestClient c = greeted()) {
            c.go("");
            assertEquals(8 << 20, c.size());
        }
    }

    @Test
    void malformedInfoRequestsAreInvalid() throws Exception {
        try (NbdTestClient c = greeted()) {
            assertEquals(REP_ERR_INVALID, c.option(OPT_GO, new byte[] {0, 0}).get(0).type());
            // name length larger than the data
            assertEquals(REP_ERR_INVALID, c.option(OPT_GO, new byte[] {0, 0, 0, 50, 'd', 0, 0}).get(0).type());
            // info count says 3, one given
            byte[] bad = goData("disk", INFO_NAME);
            bad[bad.length - 3] = 3;
            assertEquals(REP_ERR_INVALID, c.option(OPT_GO, bad).get(0).type());
            c.go("disk");
            assertEquals(8 << 20, c.size());
        }
    }

    @Test
    void exportNameEntersTransmissionWithZeroPaddingUnlessNoZeroes() throws Exception {
        try (NbdTestClient c = NbdTestClient.raw(server.tcpAddress())) {
            DataInputStream in = c.input();
            in.readLong();
            in.readLong();
            in.readShort();
            c.sendRaw(new byte[] {0, 0, 0, 1}); // FIXED_NEWSTYLE only: zeroes follow
            c.sendOption(OPT_EXPORT_NAME, "ro".getBytes(StandardCharsets.UTF_8));
            assertEquals(1 << 20, in.readLong());
            assertEquals(FLAG_READ_ONLY, in.readUnsignedShort() & FLAG_READ_ONLY);
            byte[] zeroes = new byte[124];
            in.readFully(zeroes);
            assertArrayEquals(new byte[124], zeroes);
            assertEquals(1, ro.clients.get());
            // simple replies: no structured reply negotiated
            NbdTestClient.Reply r = c.call(CMD_READ, 0, 0, 16, null);
            assertFalse(r.structured());
            assertArrayEquals(new byte[16], r.data());
        }
    }

    @Test
    void exportNameOfUnknownExportEndsTheSession() throws Exception {
        try (NbdTestClient c = greeted()) {
            c.sendOption(OPT_EXPORT_NAME, "missing".getBytes(StandardCharsets.UTF_8));
            assertTrue(c.awaitClose());
        }
    }

    @Test
    void abortIsAcknowledgedThenClosed() throws Exception {
        try (NbdTestClient c = greeted()) {
            List<OptionReply> r = c.option(OPT_ABORT, new byte[0]);
            assertEquals(REP_ACK, r.get(0).type());
            assertTrue(c.awaitClose());
        }
    }

    @Test
    void unknownOptionsAreUnsupported() throws Exception {
        try (NbdTestClient c = greeted()) {
            for (int opt : new int[] {OPT_EXTENDED_HEADERS, 42, 0, -1}) {
                List<OptionReply> r = c.option(opt, new byte[] {1, 2, 3});
                assertEquals(REP_ERR_UNSUP, r.get(0).type(), "option " + opt);
                assertEquals(opt, r.get(0).option());
            }
            // As QEMU answers without tls-creds (the spec's NOTLS mode allows POLICY or UNSUP).
            assertEquals(REP_ERR_POLICY, c.option(OPT_STARTTLS, new byte[0]).get(0).type());
            c.go("disk");
        }
    }

    @Test
    void structuredReplyTakesNoData() throws Exception {
        try (NbdTestClient c = greeted()) {
            assertEquals(REP_ERR_INVALID, c.option(OPT_STRUCTURED_REPLY, new byte[] {0}).get(0).type());
            assertEquals(REP_ACK, c.option(OPT_STRUCTURED_REPLY, new byte[0]).get(0).type());
        }
    }

    @Test
    void metaContextsNeedStructuredReplies() throws Exception {
        try (NbdTestClient c = greeted()) {
            byte[] q = NbdTestClient.metaContextData("disk", BASE_ALLOCATION);
            assertEquals(REP_ERR_INVALID, c.option(OPT_LIST_META_CONTEXT, q).get(0).type());
            assertEquals(REP_ERR_INVALID, c.option(OPT_SET_META_CONTEXT, q).get(0).type());
        }
    }

    private static List<String> contexts(List<OptionReply> replies) {
        List<String> out = new ArrayList<>();
        for (OptionReply r : replies) {
            if (r.type() == REP_META_CONTEXT) {
                out.add(string(r.data(), 4));
            }
        }
        assertEquals(REP_ACK, replies.get(replies.size() - 1).type());
        return out;
    }

    @Test
    void listMetaContextMatchesBaseAllocation() throws Exception {
        try (NbdTestClient c = greeted()) {
            c.option(OPT_STRUCTURED_REPLY, new byte[0]);
            List<String> all = List.of(BASE_ALLOCATION);
            assertEquals(all, contexts(c.option(OPT_LIST_META_CONTEXT, NbdTestClient.metaContextData("disk"))));
            assertEquals(all, contexts(c.option(OPT_LIST_META_CONTEXT, NbdTestClient.metaContextData("disk", "base:"))));
            assertEquals(all, contexts(c.option(OPT_LIST_META_CONTEXT,
                    NbdTestClient.metaContextData("disk", "x-other:thing", BASE_ALLOCATION))));
            assertEquals(List.of(), contexts(c.option(OPT_LIST_META_CONTEXT,
                    NbdTestClient.metaContextData("disk", "qemu:dirty-bitmap:x"))));
            assertEquals(REP_ERR_UNKNOWN, c.option(OPT_LIST_META_CONTEXT,
                    NbdTestClient.metaContextData("nope", BASE_ALLOCATION)).get(0).type());
            byte[] truncated = NbdTestClient.metaContextData("disk", BASE_ALLOCATION);
            assertEquals(REP_ERR_INVALID, c.option(OPT_LIST_META_CONTEXT,
                    java.util.Arrays.copyOf(truncated, truncated.length - 3)).get(0).type());
        }
    }

    @Test
    void setMetaContextSelectsBaseAllocationForItsExportOnly() throws Exception {
        try (NbdTestClient c = greeted()) {
            c.option(OPT_STRUCTURED_REPLY, new byte[0]);
            List<OptionReply> set = c.option(OPT_SET_META_CONTEXT, NbdTestClient.metaContextData("ro", BASE_ALLOCATION));
            assertEquals(List.of(BASE_ALLOCATION), contexts(set));
            assertNotEquals(0, ByteBuffer.wrap(set.get(0).data()).getInt(), "SET assigns a context id");
            c.go("disk"); // a different export than the SET named: no context is active
            NbdTestClient.Reply r = c.call(CMD_BLOCK_STATUS, 0, 0, 4096, null);
            assertEquals(NbdError.EINVAL, r.errno());
        }
        try (NbdTestClient c = greeted()) {
            c.option(OPT_STRUCTURED_REPLY, new byte[0]);
            c.option(OPT_SET_META_CONTEXT, NbdTestClient.metaContextData("disk", BASE_ALLOCATION));
            // a later SET with nothing matching replaces the selection
            assertEquals(List.of(), contexts(c.option(OPT_SET_META_CONTEXT,
                    NbdTestClient.metaContextData("disk", "x-foo:bar"))));
            c.go("disk");
            assertEquals(NbdError.EINVAL, c.call(CMD_BLOCK_STATUS, 0, 0, 4096, null).errno());
        }
    }

    @Test
    void badClientFlagsEndTheSession() throws Exception {
        try (NbdTestClient c = NbdTestClient.raw(server.tcpAddress())) {
            c.input().readNBytes(18);
            c.sendRaw(new byte[] {0, 0, 0, 4});
            assertTrue(c.awaitClose());
        }
    }

    @Test
    void badOptionMagicEndsTheSession() throws Exception {
        try (NbdTestClient c = greeted()) {
            c.sendRaw(new byte[] {'I', 'H', 'A', 'V', 'E', 'O', 'P', 'X', 0, 0, 0, 3, 0, 0, 0, 0});
            assertTrue(c.awaitClose());
        }
    }

    @Test
    void oversizedOptionEndsTheSessionWithoutAllocating() throws Exception {
        try (NbdTestClient c = greeted()) {
            ByteBuffer b = ByteBuffer.allocate(16);
            b.putLong(IHAVEOPT).putInt(OPT_GO).putInt(-1); // 4 GiB of option data announced
            c.sendRaw(b.array());
            assertTrue(c.awaitClose());
        }
        try (NbdTestClient c = NbdTestClient.connect(server.tcpAddress(), "disk")) {
            c.write(0, new byte[] {1}, false); // server unaffected
        }
    }

    @Test
    void clientThatVanishesMidHandshakeIsForgotten() throws Exception {
        for (int i = 0; i < 20; i++) {
            try (NbdTestClient c = greeted()) {
                c.sendRaw(new byte[] {'I', 'H', 'A', 'V'});
            }
        }
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (server.connections() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(0, server.connections());
        assertEquals(0, disk.clients.get());
    }
}
