package io.qjournal.qcow2.storage;

import java.lang.reflect.Field;
import java.nio.Buffer;
import java.nio.ByteBuffer;

/**
 * Fills part of a buffer with zeros. Reads of unallocated and zero clusters do this for every
 * byte they return, so a direct buffer is filled with one memset (as QEMU's
 * qemu_iovec_memset) rather than copied from a zero array; any other buffer, or a JVM without
 * sun.misc.Unsafe, takes the portable copy.
 */
public final class ZeroFill {
    private static final byte[] ZEROS = new byte[64 << 10];
    private static final sun.misc.Unsafe UNSAFE;
    private static final long ADDRESS_OFFSET;

    static {
        sun.misc.Unsafe u = null;
        long off = -1;
        try {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            u = (sun.misc.Unsafe) f.get(null);
            off = u.objectFieldOffset(Buffer.class.getDeclaredField("address"));
        } catch (ReflectiveOperationException | RuntimeException e) {
            u = null;
        }
        UNSAFE = u;
        ADDRESS_OFFSET = off;
    }

    private ZeroFill() {
    }

    /** Zeros {@code len} bytes of {@code dst} from absolute index {@code off}; position unchanged. */
    public static void fill(ByteBuffer dst, int off, int len) {
        if (off < 0 || len < 0 || off > dst.limit() - len) {
            throw new IndexOutOfBoundsException("zero fill " + off + "+" + len + " of a buffer of limit " + dst.limit());
        }
        if (dst.isReadOnly()) {
            throw new java.nio.ReadOnlyBufferException();
        }
        if (UNSAFE != null && dst.isDirect()) {
            long address = UNSAFE.getLong(dst, ADDRESS_OFFSET);
            UNSAFE.setMemory(address + off, len, (byte) 0);
            java.lang.ref.Reference.reachabilityFence(dst);
            return;
        }
        for (int done = 0; done < len; done += Math.min(len - done, ZEROS.length)) {
            dst.put(off + done, ZEROS, 0, Math.min(len - done, ZEROS.length));
        }
    }
}
