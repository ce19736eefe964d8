package io.qjournal.daemon.nbd;

import static io.qjournal.daemon.nbd.NbdProtocol.*;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import java.io.IOException;
import java.util.List;

/**
 * Transmission phase of one connection: validates requests on the event loop, runs the export
 * call on a worker thread and writes the reply from there (Netty hands the write to the event
 * loop). Replies may go out in any order; each one is a single write so that replies of
 * different requests never interleave on the wire.
 */
final class NbdRequests {
    /** Upper bound on descriptors in one BLOCK_STATUS reply (the protocol allows fewer than asked). */
    static final int MAX_EXTENTS = 1 << 16;

    /**
     * A decoded request; {@code payload} is the WRITE data, else null; {@code cost} the bytes
     * reserved for it until its reply is written.
     */
    record Request(int type, int flags, long cookie, long offset, long length, ByteBuf payload, long cost) {
    }

    /**
     * Bytes a request will allocate for its reply, charged at its header: a READ's data, a
     * BLOCK_STATUS's descriptors (at most one per 512 bytes asked, as no image has finer
     * extents; {@link #blockStatus} sends no more), plus overhead. A WRITE's payload is not in it: it is charged as it arrives.
     */
    static long cost(int type, long length, int maxPayload) {
        long reply = 0;
        if (type == CMD_READ && length <= maxPayload) {
            reply = length;
        } else if (type == CMD_BLOCK_STATUS) {
            reply = 8L * Math.min(MAX_EXTENTS, length / 512 + 2);
        }
        return NbdConnection.REQUEST_OVERHEAD + reply;
    }

    private final NbdConnection conn;
    private final ChannelHandlerContext ctx;
    private final NbdExport export;
    private final boolean structured;
    private final boolean meta;
    private final int maxPayload;

    NbdRequests(NbdConnection conn, ChannelHandlerContext ctx, NbdExport export, boolean structured, boolean meta,
                int maxPayload) {
        this.conn = conn;
        this.ctx = ctx;
        this.export = export;
        this.structured = structured;
        this.meta = meta;
        this.maxPayload = maxPayload;
    }

    int maxPayload() {
        return maxPayload;
    }

    /** Event loop: answers invalid requests at once, hands valid ones to a worker. */
    void dispatch(Request r) {
        String invalid = validate(r);
        if (invalid != null) {
            int errno = invalid.startsWith("EPERM") ? NbdError.EPERM
                    : invalid.startsWith("ENOSPC") ? NbdError.ENOSPC : NbdError.EINVAL;
            release(r);
            error(r, errno, invalid.substring(invalid.indexOf(' ') + 1));
            return;
        }
        if (!conn.submit(() -> execute(r))) {
            release(r);
            error(r, NbdError.ESHUTDOWN, "server shutting down");
        }
    }

    /** Null when the request may run, else "ERRNO message". */
    private String validate(Request r) {
        int allowed = switch (r.type()) {
            case CMD_READ -> CMD_FLAG_FUA | CMD_FLAG_DF;
            case CMD_WRITE, CMD_TRIM, CMD_FLUSH -> CMD_FLAG_FUA;
            case CMD_WRITE_ZEROES -> CMD_FLAG_FUA | CMD_FLAG_NO_HOLE;
            case CMD_BLOCK_STATUS -> CMD_FLAG_FUA | CMD_FLAG_REQ_ONE;
            default -> -1;
        };
        if (allowed < 0) {
            return "EINVAL unsupported command " + r.type();
        }
        if ((r.flags() & ~allowed) != 0) {
            return "EINVAL unsupported flags 0x" + Integer.toHexString(r.flags()) + " for command " + r.type();
        }
        boolean writes = r.type() == CMD_WRITE || r.type() == CMD_TRIM || r.type() == CMD_WRITE_ZEROES;
        if (writes && export.readOnly()) {
            return "EPERM export " + export.name() + " is read-only";
        }
        if (r.type() == CMD_FLUSH) {
            return null;
        }
        if (r.type() == CMD_READ && r.length() > maxPayload) {
            return "EINVAL read of " + r.length() + " bytes over the maximum " + maxPayload;
        }
        if (r.type() == CMD_BLOCK_STATUS) {
            if (!meta) {
                return "EINVAL base:allocation was not negotiated";
            }
            if (r.length() == 0) {
                return "EINVAL empty block status request";
            }
        }
        long size = export.size();
        // offset is unsigned on the wire: a negative long is beyond any export.
        if (r.offset() < 0 || r.offset() > size || r.length() > size - r.offset()) {
            String errno = r.type() == CMD_WRITE || r.type() == CMD_WRITE_ZEROES ? "ENOSPC" : "EINVAL";
            return errno + " range " + Long.toUnsignedString(r.offset()) + "+" + r.length()
                    + " beyond the end of export " + export.name() + " (" + size + " bytes)";
        }
        return null;
    }

    /** Worker thread. */
    private void execute(Request r) {
        boolean fua = (r.flags() & CMD_FLAG_FUA) != 0;
        try {
            switch (r.type()) {
                case CMD_READ -> read(r);
                case CMD_WRITE -> {
                    if (r.length() > 0) {
                        ByteBuf p = r.payload();
                        if (p.nioBufferCount() == 1) {
                            export.write(r.offset(), p.nioBuffer(), fua);
                        } else {
                            ByteBuf copy = ctx.alloc().directBuffer(p.readableBytes());
                            try {
                                copy.writeBytes(p, p.readerIndex(), p.readableBytes());
                                export.write(r.offset(), copy.nioBuffer(), fua);
                            } finally {
                                copy.release();
                            }
                        }
                    } else if (fua) {
                        export.flush();
                    }
                    ok(r);
                }
                case CMD_FLUSH -> {
                    export.flush();
                    ok(r);
                }
                case CMD_TRIM -> {
                    if (r.length() > 0) {
                        export.trim(r.offset(), r.length(), fua);
                    }
                    ok(r);
                }
                case CMD_WRITE_ZEROES -> {
                    if (r.length() > 0) {
                        export.writeZeroes(r.offset(), r.length(), (r.flags() & CMD_FLAG_NO_HOLE) != 0, fua);
                    }
                    ok(r);
                }
                case CMD_BLOCK_STATUS -> blockStatus(r);
                default -> error(r, NbdError.EINVAL, "unsupported command " + r.type());
            }
        } catch (NbdError e) {
            error(r, wireErrno(e.errno()), e.getMessage());
        } catch (IOException e) {
            error(r, NbdError.EIO, e.getMessage());
        } catch (RuntimeException e) {
            conn.server().log("NBD: export " + export.name() + ": command " + r.type() + " failed: " + e);
            error(r, NbdError.EIO, e.toString());
        } catch (OutOfMemoryError e) {
            // Out of (direct) memory: this request fails, the server and the connection go on.
            conn.server().log("NBD: export " + export.name() + ": command " + r.type() + ": " + e);
            errorOrAbandon(r, NbdError.ENOMEM, "out of memory");
        } catch (Error e) {
            conn.server().log("NBD: export " + export.name() + ": command " + r.type() + " failed: " + e);
            errorOrAbandon(r, NbdError.EIO, e.toString());
        } finally {
            release(r);
        }
    }

    /** Every request must end in exactly one reply attempt, or its in-flight slot is never freed. */
    private void errorOrAbandon(Request r, int errno, String message) {
        try {
            error(r, errno, message);
        } catch (Throwable t) {
            conn.abandon(r);
        }
    }

    private void read(Request r) throws IOException {
        int len = (int) r.length();
        if (len == 0) {
            if (structured) {
                ByteBuf h = chunkHeader(r, REPLY_FLAG_DONE, REPLY_TYPE_NONE, 0, 0);
                send(r, h);
            } else {
                ok(r);
            }
            return;
        }
        // One buffer for header and data: the export reads straight into it behind the header.
        int header = structured ? 28 : 16;
        ByteBuf reply = ctx.alloc().directBuffer(header + len, header + len);
        boolean sent = false;
        try {
            export.read(r.offset(), reply.nioBuffer(header, len));
            if (structured) {
                reply.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(REPLY_FLAG_DONE).writeShort(REPLY_TYPE_OFFSET_DATA)
                        .writeLong(r.cookie()).writeInt(8 + len).writeLong(r.offset());
            } else {
                reply.writeInt(SIMPLE_REPLY_MAGIC).writeInt(0).writeLong(r.cookie());
            }
            reply.writerIndex(header + len);
            sent = true;
            send(r, reply);
        } finally {
            if (!sent) {
                reply.release();
            }
        }
    }

    private void blockStatus(Request r) throws IOException {
        List<NbdExport.Extent> extents = export.blockStatus(r.offset(), r.length());
        boolean one = (r.flags() & CMD_FLAG_REQ_ONE) != 0;
        // No more descriptors than the request was charged for (cost); fewer than asked is allowed.
        long limit = Math.min(MAX_EXTENTS, r.length() / 512 + 2);
        int n = 0;
        long left = r.length();
        for (NbdExport.Extent e : extents) {
            if (left == 0 || n == limit || (one && n == 1)) {
                break;
            }
            if (e.length() > 0) {
                left -= Math.min(e.length(), left);
                n++;
            }
        }
        if (n == 0) {
            throw new NbdError(NbdError.EIO, "export " + export.name() + " reported no extents at " + r.offset());
        }
        ByteBuf b = chunkHeader(r, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, 4 + 8 * n, 4 + 8 * n);
        b.writeInt(NbdHandshake.BASE_ALLOCATION_ID);
        left = r.length();
        int written = 0;
        for (NbdExport.Extent e : extents) {
            if (written == n) {
                break;
            }
            if (e.length() > 0) {
                long l = Math.min(e.length(), left);
                left -= l;
                b.writeInt((int) l).writeInt(e.flags());
                written++;
            }
        }
        send(r, b);
    }

    private void ok(Request r) {
        ByteBuf h = ctx.alloc().buffer(16);
        h.writeInt(SIMPLE_REPLY_MAGIC).writeInt(0).writeLong(r.cookie());
        send(r, h);
    }

    /** Error reply: structured for READ and BLOCK_STATUS once negotiated, simple otherwise. */
    private void error(Request r, int errno, String message) {
        boolean chunk = structured && (r.type() == CMD_READ || r.type() == CMD_BLOCK_STATUS);
        if (chunk) {
            byte[] m = NbdHandshake.utf8(NbdHandshake.truncate(message == null ? "" : message));
            ByteBuf b = chunkHeader(r, REPLY_FLAG_DONE, REPLY_TYPE_ERROR, 6 + m.length, 6 + m.length);
            b.writeInt(errno).writeShort(m.length).writeBytes(m);
            send(r, b);
        } else {
            ByteBuf h = ctx.alloc().buffer(16);
            h.writeInt(SIMPLE_REPLY_MAGIC).writeInt(errno).writeLong(r.cookie());
            send(r, h);
        }
    }

    private ByteBuf chunkHeader(Request r, int flags, int type, int length, int extra) {
        ByteBuf h = ctx.alloc().buffer(20 + extra);
        h.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(flags).writeShort(type).writeLong(r.cookie()).writeInt(length);
        return h;
    }

    /** One write per reply; the in-flight slot is freed once it has left (or failed). */
    private void send(Request r, ByteBuf reply) {
        ctx.writeAndFlush(reply).addListener(f -> conn.replied(r));
    }

    private static void release(Request r) {
        ByteBuf p = r.payload();
        if (p != null) {
            p.release();
        }
    }

    /** Errnos a client understands; anything else becomes EIO. */
    static int wireErrno(int errno) {
        return switch (errno) {
            case NbdError.EPERM, NbdError.EIO, NbdError.ENOMEM, NbdError.EINVAL, NbdError.ENOSPC,
                    NbdError.EOVERFLOW, NbdError.ENOTSUP, NbdError.ESHUTDOWN -> errno;
            default -> NbdError.EIO;
        };
    }
}
