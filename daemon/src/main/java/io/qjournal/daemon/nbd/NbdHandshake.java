package io.qjournal.daemon.nbd;

import static io.qjournal.daemon.nbd.NbdProtocol.*;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Option haggling of the fixed newstyle handshake. Each option's data has already been read in
 * full (bounded by {@link NbdConnection#MAX_OPTION_LENGTH}); every length inside it is checked
 * against what is actually there before it is used.
 */
final class NbdHandshake {
    private NbdHandshake() {
    }

    enum Result { CONTINUE, ABORT, DISCONNECT, TRANSMISSION }

    /** Context id of base:allocation in NBD_REPLY_TYPE_BLOCK_STATUS chunks. */
    static final int BASE_ALLOCATION_ID = 1;

    static Result handle(NbdConnection c, ChannelHandlerContext ctx, int option, ByteBuf data) {
        NbdServer server = c.server();
        if (server.stopping() && option != OPT_ABORT) {
            reply(ctx, option, REP_ERR_SHUTDOWN, "server shutting down");
            return Result.CONTINUE;
        }
        if (option == OPT_STARTTLS) {
            return startTls(c, ctx, data);
        }
        if (server.config().tls() != null && !c.tlsActive()) {
            // FORCEDTLS mode of the NBD spec: only STARTTLS and ABORT before TLS.
            if (option == OPT_EXPORT_NAME) {
                // It has no error reply, so the spec's answer is to end the session.
                server.log("NBD: client " + c.peer() + ": NBD_OPT_EXPORT_NAME before TLS; disconnecting");
                return Result.DISCONNECT;
            }
            if (option != OPT_ABORT) {
                reply(ctx, option, REP_ERR_TLS_REQD, "TLS required: send NBD_OPT_STARTTLS first");
                return Result.CONTINUE;
            }
        }
        switch (option) {
            case OPT_EXPORT_NAME:
                return exportName(c, ctx, data);
            case OPT_ABORT:
                reply(ctx, option, REP_ACK, null);
                return Result.ABORT;
            case OPT_LIST:
                if (data.isReadable()) {
                    reply(ctx, option, REP_ERR_INVALID, "NBD_OPT_LIST carries no data");
                    return Result.CONTINUE;
                }
                for (NbdExport e : server.exports().list()) {
                    byte[] name = utf8(e.name());
                    // The reply may carry the description after the name, as qemu-nbd sends it.
                    String description = e.description();
                    byte[] d = description == null ? new byte[0] : utf8(truncate(description));
                    ByteBuf b = ctx.alloc().buffer(4 + name.length + d.length);
                    b.writeInt(name.length).writeBytes(name).writeBytes(d);
                    reply(ctx, option, REP_SERVER, b);
                }
                reply(ctx, option, REP_ACK, null);
                return Result.CONTINUE;
            case OPT_INFO:
            case OPT_GO:
                return infoOrGo(c, ctx, option, data);
            case OPT_STRUCTURED_REPLY:
                if (data.isReadable()) {
                    reply(ctx, option, REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY carries no data");
                    return Result.CONTINUE;
                }
                c.setStructured();
                reply(ctx, option, REP_ACK, null);
                return Result.CONTINUE;
            case OPT_LIST_META_CONTEXT:
            case OPT_SET_META_CONTEXT:
                metaContext(c, ctx, option, data);
                return Result.CONTINUE;
            default:
                reply(ctx, option, REP_ERR_UNSUP, "option " + option + " not supported");
                return Result.CONTINUE;
        }
    }

    private static Result startTls(NbdConnection c, ChannelHandlerContext ctx, ByteBuf data) {
        NbdTls tls = c.server().config().tls();
        if (data.isReadable()) {
            reply(ctx, OPT_STARTTLS, REP_ERR_INVALID, "NBD_OPT_STARTTLS carries no data");
        } else if (tls == null) {
            reply(ctx, OPT_STARTTLS, REP_ERR_POLICY, "TLS not configured");
        } else if (c.tlsActive()) {
            reply(ctx, OPT_STARTTLS, REP_ERR_INVALID, "TLS already negotiated");
        } else if (c.sentPastStartTls()) {
            return Result.DISCONNECT;
        } else {
            reply(ctx, OPT_STARTTLS, REP_ACK, null);
            c.startTls(tls);
        }
        return Result.CONTINUE;
    }

    private static Result exportName(NbdConnection c, ChannelHandlerContext ctx, ByteBuf data) {
        if (data.readableBytes() > MAX_STRING) {
            c.server().log("NBD: client " + c.peer() + ": export name too long; disconnecting");
            return Result.DISCONNECT;
        }
        String name = string(data, data.readableBytes());
        NbdExport e = c.server().exports().find(name);
        if (e == null) {
            // NBD_OPT_EXPORT_NAME has no error reply: the session must end.
            c.server().log("NBD: client " + c.peer() + " asked for unknown export '" + name + "'; disconnecting");
            return Result.DISCONNECT;
        }
        Limits l = limits(c, e);
        ByteBuf b = ctx.alloc().buffer(134);
        b.writeLong(e.size()).writeShort(transmissionFlags(e, c.structured()));
        if (!c.noZeroes()) {
            b.writeZero(124);
        }
        ctx.write(b);
        return c.enterTransmission(e, name, l.maxPayload) ? Result.TRANSMISSION : Result.DISCONNECT;
    }

    private static Result infoOrGo(NbdConnection c, ChannelHandlerContext ctx, int option, ByteBuf data) {
        if (data.readableBytes() < 6) {
            reply(ctx, option, REP_ERR_INVALID, "option data too short");
            return Result.CONTINUE;
        }
        long nameLength = data.readUnsignedInt();
        if (nameLength > MAX_STRING || nameLength > data.readableBytes() - 2) {
            reply(ctx, option, REP_ERR_INVALID, "bad export name length");
            return Result.CONTINUE;
        }
        String name = string(data, (int) nameLength);
        int count = data.readUnsignedShort();
        if (data.readableBytes() != 2 * count) {
            reply(ctx, option, REP_ERR_INVALID, "information request count does not match the data");
            return Result.CONTINUE;
        }
        Set<Integer> wanted = new LinkedHashSet<>();
        for (int i = 0; i < count; i++) {
            wanted.add(data.readUnsignedShort());
        }
        NbdExport e = c.server().exports().find(name);
        if (e == null) {
            reply(ctx, option, REP_ERR_UNKNOWN, "unknown export '" + truncate(name) + "'");
            return Result.CONTINUE;
        }
        Limits l = limits(c, e);
        ByteBuf info = ctx.alloc().buffer(12);
        info.writeShort(INFO_EXPORT).writeLong(e.size()).writeShort(transmissionFlags(e, c.structured()));
        reply(ctx, option, REP_INFO, info);
        if (wanted.contains(INFO_NAME)) {
            byte[] n = utf8(e.name());
            ByteBuf b = ctx.alloc().buffer(2 + n.length);
            b.writeShort(INFO_NAME).writeBytes(n);
            reply(ctx, option, REP_INFO, b);
        }
        String description = e.description();
        if (wanted.contains(INFO_DESCRIPTION) && description != null && !description.isEmpty()) {
            byte[] d = utf8(truncate(description));
            ByteBuf b = ctx.alloc().buffer(2 + d.length);
            b.writeShort(INFO_DESCRIPTION).writeBytes(d);
            reply(ctx, option, REP_INFO, b);
        }
        // Always sent: clients that did not ask may still use it, and it costs 18 bytes.
        ByteBuf bs = ctx.alloc().buffer(14);
        bs.writeShort(INFO_BLOCK_SIZE).writeInt(l.minimum).writeInt(l.preferred).writeInt(l.maxPayload);
        reply(ctx, option, REP_INFO, bs);
        reply(ctx, option, REP_ACK, null);
        if (option == OPT_GO) {
            return c.enterTransmission(e, name, l.maxPayload) ? Result.TRANSMISSION : Result.DISCONNECT;
        }
        return Result.CONTINUE;
    }

    private static void metaContext(NbdConnection c, ChannelHandlerContext ctx, int option, ByteBuf data) {
        boolean set = option == OPT_SET_META_CONTEXT;
        if (!c.structured()) {
            reply(ctx, option, REP_ERR_INVALID, "structured replies not negotiated");
            return;
        }
        if (data.readableBytes() < 8) {
            reply(ctx, option, REP_ERR_INVALID, "option data too short");
            return;
        }
        long nameLength = data.readUnsignedInt();
        if (nameLength > MAX_STRING || nameLength > data.readableBytes() - 4) {
            reply(ctx, option, REP_ERR_INVALID, "bad export name length");
            return;
        }
        String name = string(data, (int) nameLength);
        long queries = data.readUnsignedInt();
        List<String> list = new ArrayList<>();
        for (long i = 0; i < queries; i++) {
            if (data.readableBytes() < 4) {
                reply(ctx, option, REP_ERR_INVALID, "query count does not match the data");
                return;
            }
            long ql = data.readUnsignedInt();
            if (ql > MAX_STRING || ql > data.readableBytes()) {
                reply(ctx, option, REP_ERR_INVALID, "bad query length");
                return;
            }
            list.add(string(data, (int) ql));
        }
        if (data.isReadable()) {
            reply(ctx, option, REP_ERR_INVALID, "trailing data after the queries");
            return;
        }
        if (c.server().exports().find(name) == null) {
            reply(ctx, option, REP_ERR_UNKNOWN, "unknown export '" + truncate(name) + "'");
            return;
        }
        boolean match;
        if (set) {
            match = list.contains(BASE_ALLOCATION);
        } else {
            // LIST without queries lists everything; "base:" asks for the whole namespace.
            match = list.isEmpty() || list.contains(BASE_ALLOCATION) || list.contains("base:");
        }
        if (match) {
            byte[] n = utf8(BASE_ALLOCATION);
            ByteBuf b = ctx.alloc().buffer(4 + n.length);
            b.writeInt(set ? BASE_ALLOCATION_ID : 0).writeBytes(n);
            reply(ctx, option, REP_META_CONTEXT, b);
        }
        if (set) {
            // A new SET replaces the previous selection, also when it selects nothing.
            c.setMetaExport(match ? name : null);
        }
        reply(ctx, option, REP_ACK, null);
    }

    /** Block size constraints advertised for an export, sanitised against odd export values. */
    record Limits(int minimum, int preferred, int maxPayload) {
    }

    static Limits limits(NbdConnection c, NbdExport e) {
        int max = Math.min(c.server().config().maxPayload(), e.maximumPayload());
        int min = e.minimumBlockSize();
        if (min < 1 || min > 65536 || Integer.bitCount(min) != 1) {
            min = 1;
        }
        if (max < min) {
            max = Math.max(min, 4096);
        }
        int pref = e.preferredBlockSize();
        if (pref < Math.max(min, 512) || Integer.bitCount(pref) != 1) {
            pref = Math.max(min, 4096);
        }
        if (pref > max) {
            pref = Integer.highestOneBit(max);
        }
        max -= max % min;
        return new Limits(min, pref, max);
    }

    static int transmissionFlags(NbdExport e, boolean structured) {
        int f = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_CAN_MULTI_CONN;
        if (e.readOnly()) {
            f |= FLAG_READ_ONLY;
        } else {
            f |= FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES;
        }
        if (structured) {
            // A READ is always answered with one data chunk, so DF is free to honour.
            f |= FLAG_SEND_DF;
        }
        return f;
    }

    static void reply(ChannelHandlerContext ctx, int option, int type, Object payload) {
        ByteBuf data;
        if (payload instanceof ByteBuf b) {
            data = b;
        } else if (payload instanceof String s) {
            byte[] m = utf8(truncate(s));
            data = ctx.alloc().buffer(m.length).writeBytes(m);
        } else {
            data = null;
        }
        int length = data == null ? 0 : data.readableBytes();
        ByteBuf h = ctx.alloc().buffer(20 + length);
        h.writeLong(REPLY_MAGIC).writeInt(option).writeInt(type).writeInt(length);
        if (data != null) {
            h.writeBytes(data);
            data.release();
        }
        ctx.write(h);
    }

    /** Reads a string of {@code length} bytes (already checked against what is there). */
    static String string(ByteBuf data, int length) {
        String s = data.toString(data.readerIndex(), length, StandardCharsets.UTF_8);
        data.skipBytes(length);
        return s;
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Keeps messages and echoed names well under the protocol's 4096-byte string limit. */
    static String truncate(String s) {
        return s.length() <= 256 ? s : s.substring(0, 256) + "...";
    }
}
