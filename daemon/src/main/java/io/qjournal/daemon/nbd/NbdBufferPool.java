package io.qjournal.daemon.nbd;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The server-wide request memory connections borrow beyond their guaranteed share. Connections
 * borrow and give back in steps of {@link #STEP}, not per request, so the shared counter is
 * touched rarely on the hot path. A connection that finds the pool empty is told once some
 * comes back ({@link NbdConnection#budgetFreed()}).
 */
final class NbdBufferPool {
    /** Granularity of borrowing: large enough that a stream of requests rarely touches the pool. */
    static final long STEP = 1 << 20;

    private volatile long capacity;
    private final AtomicLong lent = new AtomicLong();
    private final ConcurrentLinkedQueue<NbdConnection> waiters = new ConcurrentLinkedQueue<>();

    NbdBufferPool(long capacity) {
        this.capacity = capacity;
    }

    long capacity() {
        return capacity;
    }

    /** For tests: a smaller pool. */
    void setCapacity(long bytes) {
        capacity = bytes;
    }

    long lent() {
        return lent.get();
    }

    /** Lends {@code bytes} if the pool has them; otherwise {@code c}, unless null, is told when some come back. */
    boolean borrow(long bytes, NbdConnection c) {
        while (true) {
            long used = lent.get();
            if (used + bytes > capacity) {
                if (c != null) {
                    if (c.markWaitingForPool()) {
                        waiters.add(c);
                    }
                    // Bytes given back between the check and the add found no waiter: look again.
                    if (lent.get() + bytes <= capacity) {
                        wakeWaiters();
                    }
                }
                return false;
            }
            if (lent.compareAndSet(used, used + bytes)) {
                return true;
            }
        }
    }

    boolean hasWaiters() {
        return !waiters.isEmpty();
    }

    void giveBack(long bytes) {
        if (bytes > 0) {
            lent.addAndGet(-bytes);
            if (!waiters.isEmpty()) {
                wakeWaiters();
            }
        }
    }

    private void wakeWaiters() {
        NbdConnection w;
        while ((w = waiters.poll()) != null) {
            w.budgetFreed();
        }
    }
}
