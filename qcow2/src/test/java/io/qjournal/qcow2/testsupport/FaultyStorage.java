package io.qjournal.qcow2.testsupport;

import io.qjournal.qcow2.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A storage wrapper with named fault points, for fail-stop tests: the Nth write or flush
 * (counting from 1 after the fault is armed) fails with an EIO- or ENOSPC-like
 * {@link IOException}, or a write lands only partly (short write) and then fails, as a real
 * pwrite that returned fewer bytes and then an error would leave the file.
 *
 * <p>Faults are one-shot unless armed as sticky: a sticky fault keeps failing every later
 * operation of its kind, like a disk that went away.
 */
public final class FaultyStorage implements Storage {
    /** What kind of failure a fault point produces. */
    public enum Kind {
        /** "Input/output error" (EIO). */
        EIO("Input/output error"),
        /** "No space left on device" (ENOSPC). */
        ENOSPC("No space left on device"),
        /** Only the first half of the write's 512-byte sectors land, then EIO. */
        SHORT_WRITE("Input/output error (short write)");

        final String message;

        Kind(String message) {
            this.message = message;
        }
    }

    /** Which operation a fault point counts. */
    public enum Target { WRITE, FLUSH, TRUNCATE }

    /** An armed fault: fail the {@code nth} operation of {@code target} (1-based). */
    private static final class Fault {
        final String name;
        final Target target;
        final int nth;
        final Kind kind;
        final boolean sticky;
        final AtomicInteger seen = new AtomicInteger();
        volatile boolean fired;

        Fault(String name, Target target, int nth, Kind kind, boolean sticky) {
            this.name = name;
            this.target = target;
            this.nth = nth;
            this.kind = kind;
            this.sticky = sticky;
        }
    }

    private final Storage inner;
    private final List<Fault> faults = new ArrayList<>();
    private final AtomicInteger writes = new AtomicInteger();
    private final AtomicInteger flushes = new AtomicInteger();
    private final List<String> fired = new ArrayList<>();

    public FaultyStorage(Storage inner) {
        this.inner = inner;
    }

    /** Arms a one-shot fault point: the nth {@code target} op after now fails with {@code kind}. */
    public synchronized FaultyStorage failNth(String name, Target target, int nth, Kind kind) {
        return arm(name, target, nth, kind, false);
    }

    /** Arms a sticky fault point: the nth op after now and every later one of that target fail. */
    public synchronized FaultyStorage failFromNth(String name, Target target, int nth, Kind kind) {
        return arm(name, target, nth, kind, true);
    }

    private FaultyStorage arm(String name, Target target, int nth, Kind kind, boolean sticky) {
        if (nth < 1) {
            throw new IllegalArgumentException("fault point " + name + ": nth must be at least 1");
        }
        if (kind == Kind.SHORT_WRITE && target != Target.WRITE) {
            throw new IllegalArgumentException("fault point " + name + ": short writes apply to writes only");
        }
        faults.add(new Fault(name, target, nth, kind, sticky));
        return this;
    }

    /** Disarms every fault point. */
    public synchronized void clearFaults() {
        faults.clear();
    }

    /** Names of the fault points that fired, in order (a sticky one once per failure). */
    public synchronized List<String> firedFaults() {
        return List.copyOf(fired);
    }

    public long writeCount() {
        return writes.get();
    }

    @Override
    public long flushCount() {
        return flushes.get();
    }

    public Storage inner() {
        return inner;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        inner.read(offset, dst);
    }

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
        writes.incrementAndGet();
        Fault f = due(Target.WRITE);
        if (f == null) {
            inner.write(offset, src);
            return;
        }
        if (f.kind == Kind.SHORT_WRITE) {
            int sectors = (src.remaining() + PowerLossStorage.SECTOR - 1) / PowerLossStorage.SECTOR;
            int landed = Math.min(src.remaining(), (sectors / 2) * PowerLossStorage.SECTOR);
            if (landed > 0) {
                ByteBuffer part = src.duplicate();
                part.limit(part.position() + landed);
                inner.write(offset, part);
            }
        }
        throw failure(f, "write of " + src.remaining() + " bytes at offset " + offset);
    }

    @Override
    public void flush() throws IOException {
        flushes.incrementAndGet();
        Fault f = due(Target.FLUSH);
        if (f != null) {
            throw failure(f, "flush");
        }
        inner.flush();
    }

    @Override
    public long size() throws IOException {
        return inner.size();
    }

    @Override
    public void truncate(long size) throws IOException {
        Fault f = due(Target.TRUNCATE);
        if (f != null) {
            throw failure(f, "truncate to " + size);
        }
        inner.truncate(size);
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public boolean isReadOnly() {
        return inner.isReadOnly();
    }

    @Override
    public void close() throws IOException {
        inner.close();
    }

    private synchronized Fault due(Target target) {
        Fault hit = null;
        for (Fault f : faults) {
            if (f.target != target) {
                continue;
            }
            int n = f.seen.incrementAndGet();
            boolean fires = f.sticky ? n >= f.nth : n == f.nth && !f.fired;
            if (fires && hit == null) {
                f.fired = true;
                hit = f;
            }
        }
        if (hit != null) {
            fired.add(hit.name);
        }
        return hit;
    }

    private IOException failure(Fault f, String what) {
        return new IOException(inner.name() + ": " + what + " failed: " + f.kind.message + " [fault point " + f.name
                + "]");
    }
}
