package io.qjournal.daemon.nbd;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Closes a connection in transmission that stalls: a WRITE whose payload does not arrive, or
 * replies the client does not read. One periodic check per connection on its event loop, so
 * requests themselves start no timers and read no clock.
 *
 * <p>Payload: the time a WRITE header waits for its payload counts while the server reads, and
 * while it waits for pool memory to hold the rest of a payload that has begun to arrive (so
 * connections holding parts of payloads cannot keep the pool full forever); while the server
 * holds the connection back for its own requests, the wait is the server's doing. Replies: counted while the socket is not writable (Netty's
 * outbound buffer over its high-water mark) and no reply has finished since the last check.
 * Both are measured in check periods, a quarter of the shorter timeout (at most 1 s).
 *
 * <p>The check also gives back pool memory the connection borrowed and no longer holds.
 */
final class ConnectionTimeouts {
    private final NbdConnection conn;
    private final long payloadMillis;
    private final long replyMillis;
    private final long periodMillis;
    private ScheduledFuture<?> task;
    private long payloadWaited;
    private long lastPayloadWait;
    private long unreadFor;
    private long lastReplies;

    ConnectionTimeouts(NbdConnection conn, NbdLimits limits) {
        this.conn = conn;
        this.payloadMillis = limits.payloadTimeout().toMillis();
        this.replyMillis = limits.replyTimeout().toMillis();
        this.periodMillis = Math.max(10, Math.min(1000, Math.min(payloadMillis, replyMillis) / 4));
    }

    void start(ScheduledExecutorService loop) {
        task = loop.scheduleAtFixedRate(this::check, periodMillis, periodMillis, TimeUnit.MILLISECONDS);
    }

    void stop() {
        if (task != null) {
            task.cancel(false);
        }
    }

    /** Event loop. */
    private void check() {
        if (conn.awaitingPayload()) {
            long wait = conn.payloadWaits();
            if (wait != lastPayloadWait) {
                lastPayloadWait = wait;
                payloadWaited = 0;
            }
            if (!conn.paused() || conn.waitingForReservation()) {
                payloadWaited += periodMillis;
                if (payloadWaited >= payloadMillis) {
                    conn.protocolError("WRITE payload not received within " + describe(payloadMillis));
                    return;
                }
            }
        }
        long replies = conn.repliesWritten();
        if (!conn.context().channel().isWritable() && replies == lastReplies) {
            unreadFor += periodMillis;
            if (unreadFor >= replyMillis) {
                conn.protocolError("replies not read for " + describe(replyMillis));
                return;
            }
        } else {
            unreadFor = 0;
        }
        lastReplies = replies;
        conn.memory().trimSpare();
    }

    static String describe(long millis) {
        return millis % 1000 == 0 ? millis / 1000 + " s" : millis + " ms";
    }

    static String describe(Duration d) {
        return describe(d.toMillis());
    }
}
