package io.qjournal.daemon.nbd;

import static io.qjournal.daemon.nbd.NbdProtocol.*;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLException;

/**
 * One client connection: frames the byte stream, runs the handshake on the event loop and hands
 * transmission requests to {@link NbdRequests} on the worker pool. All fields but the marked
 * ones are confined to the channel's event loop.
 *
 * <p>Backpressure: a request counts as in flight from its header until its reply is written to
 * the socket. Its memory is counted as it is really held ({@link ConnectionMemory}): input as it
 * arrives, a READ reply before it may be allocated. Beyond {@link NbdLimits#CONNECTION_REQUESTS}
 * requests or the connection's memory the connection stops reading, which holds back only
 * itself; so a client that floods requests or never reads its replies holds a bounded amount of
 * memory, and {@link ConnectionTimeouts} closes one that stalls.
 */
final class NbdConnection extends ChannelInboundHandlerAdapter {
    static final int MAX_OPTION_LENGTH = 16 * 1024;
    static final int MAX_OPTIONS = 4096;
    static final int MAX_IN_FLIGHT = NbdLimits.CONNECTION_REQUESTS;
    /** Input a paused connection may still receive (a read in progress when autoRead went off). */
    static final int MAX_BUFFERED_WHILE_PAUSED = 64 << 20;
    /** Accounting cost of a request beyond its data (headers, bookkeeping). */
    static final int REQUEST_OVERHEAD = 64;

    private enum Phase { CLIENT_FLAGS, OPTIONS, TRANSMISSION, CLOSED }

    private final NbdServer server;
    private ChannelHandlerContext ctx;
    private ByteBuf in;
    private Phase phase = Phase.CLIENT_FLAGS;
    private boolean admitted;
    private boolean noZeroes;
    private boolean structured;
    /** NBD_OPT_STARTTLS acknowledged: everything since goes through the SslHandler. */
    private boolean tlsActive;
    private String metaExport;
    private int optionCount;
    private ScheduledFuture<?> handshakeTimer;
    private String peer = "?";
    private final ConnectionMemory memory;
    private final AtomicBoolean waitingForPool = new AtomicBoolean();
    private ConnectionTimeouts timeouts;
    /** Replies written so far: progress the reply timeout looks for. */
    private long repliesWritten;
    /** A WRITE header is decoded and its payload has not all arrived. */
    private boolean awaitingPayload;
    /** WRITEs that had to wait for their payload: tells one wait from the next. */
    private long payloadWaits;
    private long payloadLength;
    private boolean waitingForReservation;

    private volatile NbdExport export;
    private volatile NbdRequests requests;
    /** Written on the event loop only; volatile so that monitoring may read it. */
    private volatile int inFlight;
    private boolean paused;
    private boolean processing;
    /** Bytes reserved for the request whose header is decoded but whose payload is still arriving; -1: none. */
    private long reserved = -1;
    private boolean draining;
    /** Export calls started and not yet returned (touched by workers). */
    final AtomicInteger running = new AtomicInteger();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();

    NbdConnection(NbdServer server) {
        this.server = server;
        this.memory = new ConnectionMemory(server.bufferPool(), this);
    }

    ConnectionMemory memory() {
        return memory;
    }

    NbdExport export() {
        return export;
    }

    int inFlight() {
        return inFlight;
    }

    String peer() {
        return peer;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        SocketAddress remote = ctx.channel().remoteAddress();
        peer = remote instanceof InetSocketAddress isa ? isa.getAddress().getHostAddress() + ":" + isa.getPort()
                : "unix-client";
        if (!server.admit(this)) {
            server.log("NBD: refused client " + peer + ": " + server.config().maxConnections() + " connections open");
            phase = Phase.CLOSED;
            ctx.close();
            return;
        }
        admitted = true;
        ByteBuf out = ctx.alloc().buffer(18);
        out.writeLong(NBDMAGIC).writeLong(IHAVEOPT).writeShort(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
        ctx.writeAndFlush(out);
        long timeout = server.handshakeTimeout().toMillis();
        handshakeTimer = ctx.executor().schedule(() -> {
            if (phase == Phase.CLIENT_FLAGS || phase == Phase.OPTIONS) {
                protocolError("handshake not finished within " + ConnectionTimeouts.describe(timeout));
            }
        }, timeout, TimeUnit.MILLISECONDS);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf buf) || phase == Phase.CLOSED) {
            ReferenceCountUtil.release(msg);
            return;
        }
        in = in == null ? buf : ConnectionInput.append(ctx.alloc(), in, buf, memory);
        if (paused && phase == Phase.TRANSMISSION && in.readableBytes() > MAX_BUFFERED_WHILE_PAUSED) {
            // autoRead is off, but reads already under way still arrive; beyond that the client
            // ignores backpressure in a way TCP cannot produce.
            protocolError("kept sending while paused");
            return;
        }
        process();
        stopReadingIfNoRoom();
    }

    /**
     * Transmission: stops reading when the connection has no room for more input (its own
     * requests finishing, or the pool, make room). While a large WRITE payload arrives: once its
     * first part is in, reserve the whole message or stop reading until that is possible; reads
     * stop where the message ends.
     */
    private void stopReadingIfNoRoom() {
        if (phase != Phase.TRANSMISSION || paused || draining) {
            return;
        }
        waitingForReservation = false;
        long wanted = ConnectionMemory.MIN_READ;
        if (awaitingPayload && in != null) {
            long message = REQUEST_HEADER + payloadLength;
            if (payloadLength > ConnectionMemory.RESERVE_AFTER && !memory.payloadReserved()
                    && in.readableBytes() >= REQUEST_HEADER + ConnectionMemory.RESERVE_AFTER
                    && !memory.reservePayload(message)) {
                waitingForReservation = true;
                pause();
                return;
            }
            long missing = Math.max(1, message - in.readableBytes());
            memory.payloadMissing(missing);
            wanted = Math.max(wanted, Math.min(missing, NbdBufferPool.STEP));
        }
        if (!memory.ensureReadRoom(wanted - writableInPlace())) {
            pause();
        }
    }

    /** Paused until the pool can hold the rest of a WRITE payload whose first part arrived. */
    boolean waitingForReservation() {
        return waitingForReservation;
    }

    /** Input space already charged: reads are appended there without a new buffer. */
    private int writableInPlace() {
        return in != null && in.refCnt() == 1 ? in.writableBytes() : 0;
    }

    /** Decodes as much buffered input as the phase and the in-flight limits allow. */
    private void process() {
        if (processing) {
            // Re-entered from a reply listener (a write failing at once): the outer loop goes on.
            return;
        }
        processing = true;
        try {
            while (in != null && !paused && !draining) {
                boolean progress = switch (phase) {
                    case CLIENT_FLAGS -> decodeClientFlags();
                    case OPTIONS -> decodeOption();
                    case TRANSMISSION -> decodeRequest();
                    case CLOSED -> false;
                };
                if (!progress) {
                    break;
                }
            }
        } finally {
            processing = false;
            if (phase == Phase.OPTIONS || phase == Phase.CLOSED) {
                ctx.flush();
            }
            compact();
        }
    }

    private void compact() {
        if (in != null) {
            in = ConnectionInput.compact(ctx.alloc(), in, phase == Phase.CLOSED, memory);
        }
    }

    private boolean decodeClientFlags() {
        if (in.readableBytes() < 4) {
            return false;
        }
        long flags = in.readUnsignedInt();
        if ((flags & ~(long) (FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
            protocolError("unknown client flags 0x" + Long.toHexString(flags));
            return false;
        }
        if (server.config().tls() != null && (flags & FLAG_C_FIXED_NEWSTYLE) == 0) {
            // The spec allows STARTTLS only after fixed newstyle; serving in plain text is not an option.
            protocolError("no fixed newstyle handshake, so no TLS, which this server requires");
            return false;
        }
        noZeroes = (flags & FLAG_C_NO_ZEROES) != 0;
        phase = Phase.OPTIONS;
        return true;
    }

    private boolean decodeOption() {
        if (!ctx.channel().isWritable()) {
            // The client sends options without reading our replies: stop until it catches up.
            pause();
            return false;
        }
        if (in.readableBytes() < 16) {
            return false;
        }
        int ri = in.readerIndex();
        if (in.getLong(ri) != IHAVEOPT) {
            protocolError("bad option magic");
            return false;
        }
        int option = in.getInt(ri + 8);
        long length = in.getUnsignedInt(ri + 12);
        if (length > MAX_OPTION_LENGTH) {
            protocolError("option " + option + " with " + length + " bytes of data (limit " + MAX_OPTION_LENGTH + ")");
            return false;
        }
        if (in.readableBytes() < 16 + length) {
            return false;
        }
        if (++optionCount > MAX_OPTIONS) {
            protocolError("more than " + MAX_OPTIONS + " options");
            return false;
        }
        in.skipBytes(16);
        ByteBuf data = in.readSlice((int) length);
        NbdHandshake.Result r = NbdHandshake.handle(this, ctx, option, data);
        switch (r) {
            case CONTINUE -> {
            }
            case ABORT -> {
                ctx.flush();
                phase = Phase.CLOSED;
                ctx.close();
                return false;
            }
            case DISCONNECT -> {
                phase = Phase.CLOSED;
                ctx.close();
                return false;
            }
            case TRANSMISSION -> {
                ctx.flush();
                return true;
            }
        }
        return true;
    }

    // ---- handshake state, for NbdHandshake ----

    NbdServer server() {
        return server;
    }

    boolean noZeroes() {
        return noZeroes;
    }

    boolean structured() {
        return structured;
    }

    void setStructured() {
        structured = true;
    }

    boolean tlsActive() {
        return tlsActive;
    }

    /**
     * True (and the connection closing) if the client sent anything behind NBD_OPT_STARTTLS: it
     * must wait for the reply, and plain bytes must not be mistaken for the start of TLS.
     */
    boolean sentPastStartTls() {
        if (in.isReadable()) {
            protocolError("sent " + in.readableBytes() + " bytes after NBD_OPT_STARTTLS before its reply");
            return true;
        }
        return false;
    }

    /** Called once the ACK to NBD_OPT_STARTTLS is written: from here on, both ways are TLS. */
    void startTls(NbdTls tls) {
        tlsActive = true;
        tls.startOn(ctx, established -> server.log("NBD: client " + peer + ": TLS established (" + established + ")"));
    }

    String metaExport() {
        return metaExport;
    }

    void setMetaExport(String name) {
        metaExport = name;
    }

    /** Called by the handshake once the export is chosen (GO or EXPORT_NAME); false: it went away meanwhile. */
    boolean enterTransmission(NbdExport chosen, String name, int maxPayload) {
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        timeouts = new ConnectionTimeouts(this, server.config().limits());
        timeouts.start(ctx.executor());
        boolean meta = structured && name.equals(metaExport);
        export = chosen;
        if (server.exports().find(name) != chosen) {
            // Removed (image closed) between lookup and now: disconnect() may have missed us.
            server.log("NBD: client " + peer + ": export " + chosen.name() + " closed during the handshake");
            export = null; // never attached: nothing to detach
            return false;
        }
        requests = new NbdRequests(this, ctx, chosen, structured, meta, maxPayload);
        phase = Phase.TRANSMISSION;
        try {
            chosen.clientAttached();
        } catch (RuntimeException e) {
            server.log("NBD: export " + chosen.name() + ": clientAttached failed: " + e);
        }
        server.log("NBD: client " + peer + " uses export " + chosen.name()
                + (structured ? " (structured replies)" : ""));
        return true;
    }

    // ---- transmission ----

    private boolean decodeRequest() {
        if (in.readableBytes() < REQUEST_HEADER) {
            return false;
        }
        int ri = in.readerIndex();
        if (in.getInt(ri) != REQUEST_MAGIC) {
            protocolError("bad request magic 0x" + Integer.toHexString(in.getInt(ri)));
            return false;
        }
        int flags = in.getUnsignedShort(ri + 4);
        int type = in.getUnsignedShort(ri + 6);
        long cookie = in.getLong(ri + 8);
        long offset = in.getLong(ri + 16);
        long length = in.getUnsignedInt(ri + 24);
        if (type == CMD_DISC) {
            // Finish what is in flight, then close (NBD_CMD_DISC has no reply).
            in.skipBytes(REQUEST_HEADER);
            draining = true;
            ctx.channel().config().setAutoRead(false);
            closeIfIdle();
            return false;
        }
        if (type == CMD_WRITE && length > requests.maxPayload()) {
            // The payload cannot be skipped safely without reading it all: end the connection.
            protocolError("WRITE of " + length + " bytes over the maximum payload " + requests.maxPayload());
            return false;
        }
        if (reserved < 0) {
            // Charge what this request will allocate (its READ reply) before any of it exists. A
            // WRITE payload is charged as its bytes arrive, as input, not from its header's length.
            long cost = NbdRequests.cost(type, length, requests.maxPayload());
            if (inFlight >= MAX_IN_FLIGHT || !memory.take(cost)) {
                pause();
                return false;
            }
            reserved = cost;
            inFlight++;
        }
        ByteBuf payload = null;
        long cost = reserved;
        if (type == CMD_WRITE) {
            if (in.readableBytes() < REQUEST_HEADER + length) {
                if (!awaitingPayload) {
                    awaitingPayload = true;
                    payloadLength = length;
                    payloadWaits++;
                }
                return false;
            }
            if (awaitingPayload) {
                awaitingPayload = false;
                memory.payloadDone();
            }
            in.skipBytes(REQUEST_HEADER);
            int len = (int) length;
            if (2L * len >= in.capacity()) {
                // The slice keeps the whole input buffer alive: that is what it holds.
                cost += in.capacity();
                payload = in.readRetainedSlice(len);
            } else {
                // A small slice would pin the whole (possibly large) buffer; copy it out instead.
                cost += len;
                payload = ctx.alloc().directBuffer(len, len);
                in.readBytes(payload, len);
            }
            memory.add(cost - reserved);
        } else {
            in.skipBytes(REQUEST_HEADER);
        }
        NbdRequests.Request r = new NbdRequests.Request(type, flags, cookie, offset, length, payload, cost);
        reserved = -1;
        requests.dispatch(r);
        return true;
    }

    boolean awaitingPayload() {
        return awaitingPayload;
    }

    long payloadWaits() {
        return payloadWaits;
    }

    boolean paused() {
        return paused;
    }

    long repliesWritten() {
        return repliesWritten;
    }

    ChannelHandlerContext context() {
        return ctx;
    }

    /** Runs an export call on the worker pool; false when the pool no longer accepts work. */
    boolean submit(Runnable task) {
        running.incrementAndGet();
        try {
            server.workers().execute(() -> {
                try {
                    task.run();
                } finally {
                    running.decrementAndGet();
                }
            });
            return true;
        } catch (RejectedExecutionException e) {
            running.decrementAndGet();
            return false;
        }
    }

    /** A reply has been written (or failed to): event loop. */
    void replied(NbdRequests.Request r) {
        inFlight--;
        repliesWritten++;
        memory.release(r.cost());
        if (draining) {
            closeIfIdle();
        } else if (paused) {
            resume();
        }
    }

    /** No reply could even be built for this request: free its slot and end the connection. Any thread. */
    void abandon(NbdRequests.Request r) {
        try {
            ctx.executor().execute(() -> {
                replied(r);
                protocolError("no reply possible for a request");
            });
        } catch (RejectedExecutionException e) {
            // event loop shut down: the connection is gone
        }
    }

    /** True if this connection was not yet waiting for the pool (so it is queued once). Any thread. */
    boolean markWaitingForPool() {
        return waitingForPool.compareAndSet(false, true);
    }

    /** The server-wide pool has room again: retry if this connection waits for it. Any thread. */
    void budgetFreed() {
        waitingForPool.set(false);
        try {
            ctx.executor().execute(() -> {
                if (paused && phase == Phase.TRANSMISSION && !draining) {
                    resume();
                }
            });
        } catch (RejectedExecutionException e) {
            // event loop shut down: the connection is gone
        }
    }

    private void pause() {
        if (!paused) {
            paused = true;
            ctx.channel().config().setAutoRead(false);
        }
    }

    private void resume() {
        paused = false;
        process();
        stopReadingIfNoRoom();
        if (!paused && !draining && phase != Phase.CLOSED) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (paused && phase == Phase.OPTIONS && ctx.channel().isWritable()) {
            resume();
        }
        ctx.fireChannelWritabilityChanged();
    }

    private void closeIfIdle() {
        // A request still waiting for its payload is not in flight: it was never started.
        if (inFlight - (reserved >= 0 ? 1 : 0) == 0) {
            phase = Phase.CLOSED;
            ctx.close();
        }
    }

    void protocolError(String message) {
        if (phase != Phase.CLOSED) {
            server.log("NBD: client " + peer + exportSuffix() + ": " + message + "; disconnecting");
            phase = Phase.CLOSED;
        }
        ctx.close();
    }

    private String exportSuffix() {
        NbdExport e = export;
        return e == null ? "" : " (export " + e.name() + ")";
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (phase != Phase.CLOSED) {
            String why = cause instanceof IOException ? cause.getMessage() : cause.toString();
            if (cause instanceof DecoderException && cause.getCause() instanceof SSLException tlsError) {
                // e.g. a client without a certificate under verify-peer, or one that speaks plain NBD after the ACK
                why = "TLS: " + tlsError.getMessage();
            }
            server.log("NBD: client " + peer + exportSuffix() + ": " + why + "; disconnecting");
            phase = Phase.CLOSED;
        }
        ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        phase = Phase.CLOSED;
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        if (timeouts != null) {
            timeouts.stop();
        }
        if (in != null) {
            in.release();
            in = null;
        }
        memory.input(0);
        if (reserved >= 0) {
            // a request cut off mid-payload: its reservation was never handed to a reply
            inFlight--;
            memory.release(reserved);
            reserved = -1;
        }
        // Replies still being written give their bytes back as they fail.
        memory.close();
        NbdExport e = export;
        if (e != null) {
            try {
                e.clientDetached();
            } catch (RuntimeException ex) {
                server.log("NBD: export " + e.name() + ": clientDetached failed: " + ex);
            }
            server.log("NBD: client " + peer + " left export " + e.name());
        }
        if (admitted) {
            server.release(this);
        }
        closed.complete(null);
        ctx.fireChannelInactive();
    }

    // ---- lifecycle, any thread ----

    /** Stops reading new requests; closes once the ones in flight are answered. */
    void drain() {
        if (ctx == null) {
            return;
        }
        ctx.executor().execute(() -> {
            draining = true;
            ctx.channel().config().setAutoRead(false);
            if (phase == Phase.TRANSMISSION) {
                closeIfIdle();
            } else {
                phase = Phase.CLOSED;
                ctx.close();
            }
        });
    }

    void closeNow(String reason) {
        if (ctx != null && ctx.channel().isOpen()) {
            server.log("NBD: closing client " + peer + exportSuffix() + ": " + reason);
            ctx.channel().close();
        }
    }

    void awaitClosed(long deadlineNanos) {
        try {
            closed.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException | ExecutionException e) {
            // the caller closes forcibly
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits until the channel is closed and no export call of this connection runs. */
    void awaitIdle(long deadlineNanos) {
        awaitClosed(deadlineNanos);
        while (running.get() > 0 && System.nanoTime() < deadlineNanos) {
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

}
