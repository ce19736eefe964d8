package io.qjournal.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.daemon.nbd.NbdError;
import io.qjournal.daemon.nbd.NbdExport.Extent;
import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.JournalOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.storage.MemoryStorage;
import io.qjournal.qcow2.testsupport.FaultyStorage;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** ServedImage over an in-memory image with injected faults: errno mapping and fail-stop. */
class ServedImageTest {
    static final long SIZE = 16L << 20;
    final List<String> healthChanges = new ArrayList<>();

    private ServedImage serve(FaultyStorage storage, boolean readOnly) throws Exception {
        OpenOptions o = readOnly ? OpenOptions.readOnly() : OpenOptions.readWrite().journal(JournalOptions.defaults());
        Qcow2Image img = Qcow2Image.open(storage, o, null);
        ImageSpec spec = new ImageSpec("t", Path.of("/mem/t.qcow2"), readOnly, !readOnly, null, -1, null);
        return ServedImage.wrap(spec, img, s -> healthChanges.add(s.health()), s -> s.closeImage());
    }

    private static FaultyStorage fresh() throws Exception {
        MemoryStorage m = new MemoryStorage("t.qcow2");
        Qcow2Image.create(m, new CreateOptions().size(SIZE));
        return new FaultyStorage(m);
    }

    private static ByteBuffer filled(int len, int value) {
        byte[] b = new byte[len];
        Arrays.fill(b, (byte) value);
        return ByteBuffer.wrap(b);
    }

    @Test
    void servesAndCounts() throws Exception {
        ServedImage s = serve(fresh(), false);
        s.write(65536, filled(8192, 3), false);
        s.write(1 << 20, filled(4096, 4), true);
        s.flush();
        ByteBuffer back = ByteBuffer.allocate(8192);
        s.read(65536, back);
        assertArrayEquals(filled(8192, 3).array(), back.array());
        assertEquals(12288, s.bytesWritten());
        assertEquals(8192, s.bytesRead());
        assertEquals(1, s.flushes());
        assertTrue(s.syncs() > 0);
        s.clientAttached();
        s.clientAttached();
        s.clientDetached();
        assertEquals(1, s.clients());
        assertEquals("OK", s.health());
        assertEquals(SIZE, s.size());
    }

    @Test
    void blockStatusCoversTheRangeWithMergedExtents() throws Exception {
        ServedImage s = serve(fresh(), false);
        s.write(65536, filled(65536, 1), false);
        List<Extent> e = s.blockStatus(0, SIZE);
        assertEquals(new Extent(65536, true, true), e.get(0));
        assertEquals(new Extent(65536, false, false), e.get(1));
        assertEquals(new Extent(SIZE - 131072, true, true), e.get(2));
        assertEquals(3, e.size());
        assertEquals(SIZE, e.stream().mapToLong(Extent::length).sum());
    }

    @Test
    void badRangesAreTheClientsErrorNotAFailure() throws Exception {
        ServedImage s = serve(fresh(), false);
        NbdError w = assertThrows(NbdError.class, () -> s.write(SIZE - 512, filled(4096, 1), false));
        assertEquals(NbdError.EINVAL, w.errno());
        NbdError r = assertThrows(NbdError.class, () -> s.read(-1, ByteBuffer.allocate(512)));
        assertEquals(NbdError.EINVAL, r.errno());
        assertEquals(NbdError.EINVAL, assertThrows(NbdError.class, () -> s.trim(SIZE, 1, false)).errno());
        assertEquals("OK", s.health());
        assertTrue(healthChanges.isEmpty());
    }

    @Test
    void enospcOnFlushFailsTheImageOnce() throws Exception {
        FaultyStorage st = fresh();
        ServedImage s = serve(st, false);
        s.write(0, filled(65536, 1), false);
        st.failFromNth("full", FaultyStorage.Target.FLUSH, 1, FaultyStorage.Kind.ENOSPC);
        st.failFromNth("full-w", FaultyStorage.Target.WRITE, 1, FaultyStorage.Kind.ENOSPC);
        NbdError f = assertThrows(NbdError.class, s::flush);
        assertEquals(NbdError.ENOSPC, f.errno());
        assertTrue(s.health().startsWith("FAILED: "), s.health());
        assertTrue(s.health().contains("No space left on device"), s.health());
        // Every request now fails with EIO, without touching the file again.
        st.clearFaults();
        long writesBefore = st.writeCount();
        assertEquals(NbdError.EIO, assertThrows(NbdError.class, () -> s.write(0, filled(512, 2), false)).errno());
        assertEquals(NbdError.EIO, assertThrows(NbdError.class, () -> s.read(0, ByteBuffer.allocate(512))).errno());
        assertEquals(NbdError.EIO, assertThrows(NbdError.class, s::flush).errno());
        assertEquals(writesBefore, st.writeCount(), "a FAILED image is not written");
        assertEquals(List.of(s.health()), healthChanges, "one notification");
        assertThrows(java.io.IOException.class, s::close, "a FAILED image cannot close cleanly");
    }

    @Test
    void eioOnWriteFailsTheImage() throws Exception {
        FaultyStorage st = fresh();
        ServedImage s = serve(st, false);
        st.failFromNth("eio", FaultyStorage.Target.WRITE, 1, FaultyStorage.Kind.EIO);
        assertEquals(NbdError.EIO, assertThrows(NbdError.class, () -> s.write(0, filled(4096, 1), true)).errno());
        assertTrue(s.health().startsWith("FAILED: "), s.health());
        assertEquals(1, healthChanges.size());
    }

    @Test
    void readOnlyAndClosed() throws Exception {
        FaultyStorage st = fresh();
        ServedImage ro = serve(st, true);
        assertTrue(ro.readOnly());
        assertFalse(ro.journalEnabled());
        assertEquals(NbdError.EPERM, assertThrows(NbdError.class, () -> ro.write(0, filled(512, 1), false)).errno());
        assertEquals(NbdError.EPERM, assertThrows(NbdError.class, () -> ro.writeZeroes(0, 512, false, false)).errno());
        ro.flush();
        ro.forceSync();
        ro.close();
        assertEquals(NbdError.ESHUTDOWN,
                assertThrows(NbdError.class, () -> ro.read(0, ByteBuffer.allocate(512))).errno());
        assertEquals("OK", ro.health());
    }
}
