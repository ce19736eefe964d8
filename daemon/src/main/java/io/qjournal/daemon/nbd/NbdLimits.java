package io.qjournal.daemon.nbd;

import java.time.Duration;
import java.util.Objects;

/**
 * How long a client may stall and how much request memory the connections share.
 *
 * <p>Memory: every connection may hold {@link #GUARANTEED_BYTES} of buffers (input not yet
 * decoded, WRITE payloads, READ replies not yet written) whatever the others do; beyond that it
 * borrows from the server-wide {@code bufferPool}, at most {@link #CONNECTION_BYTES} in all. So
 * the buffers of all connections stay under {@code maxConnections x GUARANTEED_BYTES +
 * bufferPool}, however many clients misbehave, and a client that stalls holds back only itself.
 *
 * @param handshakeTimeout a client must have finished its handshake by then (QEMU: 10 s)
 * @param payloadTimeout a WRITE's payload must have arrived this long after its header (time
 *     the server itself stops reading, to bound memory, does not count)
 * @param replyTimeout a connection whose replies wait unread (socket not writable, no reply
 *     finishing) this long is closed
 * @param bufferPool bytes of request memory shared by all connections beyond their guaranteed share
 */
public record NbdLimits(Duration handshakeTimeout, Duration payloadTimeout, Duration replyTimeout, long bufferPool) {
    /** Buffers every connection may hold regardless of the shared pool: a few small requests and one read. */
    public static final long GUARANTEED_BYTES = 128 << 10;
    /** Buffers one connection may hold at most (its own and borrowed). */
    public static final long CONNECTION_BYTES = 64L << 20;
    /** Requests one connection may have in flight. */
    public static final int CONNECTION_REQUESTS = 64;

    public NbdLimits {
        Objects.requireNonNull(handshakeTimeout, "handshakeTimeout");
        Objects.requireNonNull(payloadTimeout, "payloadTimeout");
        Objects.requireNonNull(replyTimeout, "replyTimeout");
        for (Duration d : new Duration[] {handshakeTimeout, payloadTimeout, replyTimeout}) {
            if (d.toMillis() < 1) {
                throw new IllegalArgumentException("NBD: timeouts must be at least 1 ms, not " + d);
            }
        }
        if (bufferPool < 0) {
            throw new IllegalArgumentException("NBD: the buffer pool cannot be negative");
        }
    }

    /** Handshake 10 s, payload 30 s, replies 30 s, a 256 MiB shared pool. */
    public static NbdLimits defaults() {
        return new NbdLimits(Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofSeconds(30), 256L << 20);
    }

    /** The most request memory all connections together may hold. */
    public long memoryBound(int maxConnections) {
        return maxConnections * GUARANTEED_BYTES + bufferPool;
    }

    public NbdLimits withHandshakeTimeout(Duration d) {
        return new NbdLimits(d, payloadTimeout, replyTimeout, bufferPool);
    }

    public NbdLimits withPayloadTimeout(Duration d) {
        return new NbdLimits(handshakeTimeout, d, replyTimeout, bufferPool);
    }

    public NbdLimits withReplyTimeout(Duration d) {
        return new NbdLimits(handshakeTimeout, payloadTimeout, d, bufferPool);
    }

    public NbdLimits withBufferPool(long bytes) {
        return new NbdLimits(handshakeTimeout, payloadTimeout, replyTimeout, bytes);
    }
}
