package io.qjournal.daemon.nbd;

/**
 * Request memory of one connection, counted as it is really held: the capacity of its input not
 * yet decoded (a WRITE payload as its bytes arrive, never the length its header claims), WRITE
 * payloads while they run, READ replies from the moment they may be allocated until written.
 * Up to {@link NbdLimits#GUARANTEED_BYTES} are the connection's own; beyond that it borrows
 * from the server's {@link NbdBufferPool} in steps, up to {@link NbdLimits#CONNECTION_BYTES}.
 * When neither has room the connection stops reading, which holds back only itself.
 *
 * <p>Event loop only, except {@link #held()} (monitoring).
 */
final class ConnectionMemory {
    /** A WRITE payload larger than this is reserved whole once this much of it has arrived ({@link #reservePayload}). */
    static final int RESERVE_AFTER = 32 << 10;
    /** The smallest read worth doing; a connection with less room than this stops reading. */
    static final int MIN_READ = 4096;
    /** The largest read (Netty's adaptive sizing grows up to it). */
    static final int MAX_READ = 1 << 20;
    /** Spare borrowed bytes a busy connection keeps between requests (trimmed by {@link #trimSpare}). */
    private static final long KEEP_SPARE = 4 * NbdBufferPool.STEP;

    private final NbdBufferPool pool;
    private final NbdConnection owner;
    private long grant;
    private long input;
    /** Bytes still missing from the WRITE payload being assembled; 0: none. */
    private long payloadMissing;
    /** While a large payload is assembled: the held bytes its reservation guarantees (grant never shrinks below). */
    private long payloadFloor;
    private boolean closed;
    /** Input plus requests in flight; volatile only so that monitoring may read it. */
    private volatile long held;

    ConnectionMemory(NbdBufferPool pool, NbdConnection owner) {
        this.pool = pool;
        this.owner = owner;
    }

    long held() {
        return held;
    }

    private long allowance() {
        return NbdLimits.GUARANTEED_BYTES + grant;
    }

    /** Bytes the next read may bring in without going over the allowance. */
    long readRoom() {
        return allowance() - held;
    }

    /** Size of the next read: within the room, and not past a payload being assembled (so it leaves no rest to copy). */
    int nextRead(int guess) {
        long n = Math.min(guess, Math.max(MIN_READ, readRoom()));
        if (payloadMissing > 0) {
            n = Math.min(n, payloadMissing);
        }
        return (int) Math.max(1, n);
    }

    /** Bytes the next reads should stop at: the rest of a payload, or of its part before the reservation. */
    void payloadMissing(long bytes) {
        payloadMissing = bytes;
    }

    long payloadMissing() {
        return payloadMissing;
    }

    /** The payload being assembled is complete (or gone). */
    void payloadDone() {
        payloadMissing = 0;
        payloadFloor = 0;
    }

    boolean payloadReserved() {
        return payloadFloor > 0;
    }

    /**
     * Reserves room for a whole WRITE message of {@code bytes} (header and payload) whose first
     * {@link #RESERVE_AFTER} payload bytes have arrived; all or nothing, false (and a call back
     * from the pool, or the connection's own replies) when it does not fit. Payloads assembled
     * piecemeal from the pool could leave several half-done and none able to finish; with the
     * rest reserved at once, a connection waits for the pool holding at most the part that has
     * arrived, and the payload timeout runs while it waits, so even a pool filled with such
     * parts drains.
     */
    boolean reservePayload(long bytes) {
        long need = held - input + bytes + MIN_READ;
        if (need > allowance() && !grow(need, true)) {
            return false;
        }
        payloadFloor = need;
        return true;
    }

    /** The undecoded input now occupies a buffer of this capacity (0: none). */
    void input(long capacity) {
        held += capacity - input;
        input = capacity;
    }

    /**
     * Charges a request that will allocate {@code cost} bytes (a READ reply), borrowing if need
     * be; false (and the pool's promise to call back) when it does not fit. The input buffer does
     * not count here: the header being decoded is about to leave it, and what stays is charged
     * again once decoding stops. Room for one more read stays, so input is never starved.
     */
    boolean take(long cost) {
        long need = held - input + cost + MIN_READ;
        if (need > allowance() && !grow(need, true)) {
            return false;
        }
        held += cost;
        return true;
    }

    /** Charges bytes the connection already holds (a WRITE payload taken out of the input). */
    void add(long bytes) {
        held += bytes;
    }

    void release(long bytes) {
        held -= bytes;
        if (grant > 0) {
            if (closed || pool.hasWaiters()) {
                // Others wait for the pool: keep nothing spare.
                shrinkTo(held);
            } else if (readRoom() > KEEP_SPARE) {
                shrinkTo(held + KEEP_SPARE / 2);
            }
        }
    }

    /**
     * Makes room for reading {@code wanted} more bytes when the pool allows, else for at least
     * {@link #MIN_READ}; false when not even that is possible (the connection must stop reading
     * until the pool calls back or its own requests finish).
     */
    boolean ensureReadRoom(long wanted) {
        if (readRoom() >= wanted || (wanted > MIN_READ && grow(held + wanted, false))) {
            return true;
        }
        return readRoom() >= MIN_READ || grow(held + MIN_READ, true);
    }

    /** Gives back borrowed bytes the connection does not hold right now (periodically, so no grant goes stale). */
    void trimSpare() {
        if (grant > 0) {
            shrinkTo(held + MIN_READ);
        }
    }

    /** The connection is gone: borrowed bytes go back as what it still holds is released. */
    void close() {
        closed = true;
        payloadFloor = 0;
        shrinkTo(held);
    }

    private boolean grow(long need, boolean wait) {
        long more = roundUp(need - allowance());
        long maxGrant = NbdLimits.CONNECTION_BYTES - NbdLimits.GUARANTEED_BYTES;
        if (grant + more > maxGrant) {
            // Over the connection's own limit: it waits for its own requests, not for the pool.
            more = maxGrant - grant;
            if (more <= 0 || allowance() + more < need) {
                return false;
            }
        }
        if (!pool.borrow(more, wait ? owner : null)) {
            return false;
        }
        grant += more;
        return true;
    }

    private void shrinkTo(long keep) {
        keep = Math.max(keep, payloadFloor);
        long keepGrant = Math.max(0, roundUp(keep - NbdLimits.GUARANTEED_BYTES));
        if (grant > keepGrant) {
            pool.giveBack(grant - keepGrant);
            grant = keepGrant;
        }
    }

    @Override
    public String toString() {
        return "held " + held + " (input " + input + "), borrowed " + grant;
    }

    private static long roundUp(long bytes) {
        return bytes <= 0 ? 0 : (bytes + NbdBufferPool.STEP - 1) / NbdBufferPool.STEP * NbdBufferPool.STEP;
    }
}
