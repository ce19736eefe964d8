package io.qjournal.daemon.nbd;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * The undecoded input of a connection, kept in one buffer whose capacity is what the
 * connection is charged ({@link ConnectionMemory#input}). Growth is bounded by the bytes
 * present and the connection's room, never by a length a header claims.
 */
final class ConnectionInput {
    private ConnectionInput() {
    }

    /** Appends {@code buf} to {@code cumulation}; returns the buffer that now holds the input. */
    static ByteBuf append(ByteBufAllocator alloc, ByteBuf cumulation, ByteBuf buf, ConnectionMemory memory) {
        int incoming = buf.readableBytes();
        if (cumulation.refCnt() == 1 && cumulation.writableBytes() >= incoming) {
            cumulation.writeBytes(buf);
            buf.release();
            return cumulation;
        }
        int present = cumulation.readableBytes() + incoming;
        long spare = Math.max(0, Math.min(present, memory.readRoom() - incoming));
        if (memory.payloadMissing() > 0) {
            spare = Math.min(spare, Math.max(0, memory.payloadMissing() - incoming));
        }
        ByteBuf bigger = alloc.ioBuffer((int) Math.min(Integer.MAX_VALUE - 8, present + spare));
        bigger.writeBytes(cumulation);
        bigger.writeBytes(buf);
        // A WRITE payload slice may still share the old buffer: releasing drops only our reference.
        cumulation.release();
        buf.release();
        return bigger;
    }

    /**
     * After decoding: frees the input when it is all consumed (or {@code drop}), else keeps
     * what is left in a buffer of fitting size. Returns the input buffer, or null.
     */
    static ByteBuf compact(ByteBufAllocator alloc, ByteBuf in, boolean drop, ConnectionMemory memory) {
        if (!in.isReadable() || drop) {
            in.release();
            memory.input(0);
            return null;
        }
        if (in.refCnt() > 1 || (in.capacity() > 65536 && in.readableBytes() < in.capacity() / 4)) {
            // A WRITE payload slice keeps this buffer alive and is charged for all of it, or most
            // of it is spent: move the rest to a buffer of its own (the next read would mostly
            // have to copy it anyway).
            int rest = in.readableBytes();
            memory.input(0);
            long spare = Math.max(0, Math.min(Math.max(rest, 65536), memory.readRoom() - rest));
            ByteBuf own = alloc.ioBuffer((int) Math.min(Integer.MAX_VALUE - 8, rest + spare));
            own.writeBytes(in);
            in.release();
            in = own;
        } else if (in.readerIndex() > 64 * 1024) {
            in.discardSomeReadBytes();
        }
        memory.input(in.capacity());
        return in;
    }
}
