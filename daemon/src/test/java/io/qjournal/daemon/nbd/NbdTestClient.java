package io.qjournal.daemon.nbd;

import static io.qjournal.daemon.nbd.NbdProtocol.*;

import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A small blocking NBD client for tests: fixed newstyle handshake with NBD_OPT_GO, the
 * transmission commands (one at a time, or pipelined with {@link #send} / {@link #receive}),
 * and raw access to the socket for fuzzing. One thread may send while another receives;
 * otherwise not thread-safe.
 */
public final class NbdTestClient implements Closeable {
    /** An error reply (errno from the server) or an option error. */
    public static final class NbdReplyException extends IOException {
        private final int errno;

        public NbdReplyException(int errno, String message) {
            super(message);
            this.errno = errno;
        }

        public int errno() {
            return errno;
        }
    }

    /** One option reply: type (REP_*) and its data. */
    public record OptionReply(int option, int type, byte[] data) {
        public boolean isError() {
            return type < 0;
        }
    }

    /** Reply to one request: errno 0 on success; data for READ; extents (length, flags) for BLOCK_STATUS. */
    public record Reply(long cookie, int errno, byte[] data, List<long[]> extents, boolean structured) {
    }

    private record Pending(int type, long offset, int length) {
    }

    /** Reads on TCP connections give up after this long, so a hung server fails a test instead of stalling it. */
    public static final int READ_TIMEOUT_MILLIS = 30_000;

    private Closeable channel;
    private final Socket socket;
    private DataInputStream in;
    private DataOutputStream out;
    private final Map<Long, Pending> pending = new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicLong nextCookie = new java.util.concurrent.atomic.AtomicLong(1);
    private int handshakeFlags;
    private boolean structured;
    private long size;
    private int transmissionFlags;
    private int minBlock;
    private int prefBlock;
    private int maxPayload;
    private int metaContextId = -1;

    private NbdTestClient(Closeable channel, Socket socket, java.io.InputStream is, java.io.OutputStream os) {
        this.channel = channel;
        this.socket = socket;
        // Buffered output so that a request goes out as one write.
        this.in = new DataInputStream(new java.io.BufferedInputStream(is, 1 << 16));
        this.out = new DataOutputStream(new java.io.BufferedOutputStream(os, 1 << 16));
    }

    /** Connects over TCP without any handshake (the server's greeting is not read yet). */
    public static NbdTestClient raw(InetSocketAddress address) throws IOException {
        Socket s = new Socket();
        s.connect(address, READ_TIMEOUT_MILLIS);
        s.setTcpNoDelay(true);
        s.setSoTimeout(READ_TIMEOUT_MILLIS);
        return new NbdTestClient(s, s, s.getInputStream(), s.getOutputStream());
    }

    /** Connects over a Unix domain socket without any handshake. */
    public static NbdTestClient rawUnix(Path socket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        return new NbdTestClient(ch, null, Channels.newInputStream(ch), Channels.newOutputStream(ch));
    }

    /** TCP, structured replies, base:allocation, NBD_OPT_GO. */
    public static NbdTestClient connect(InetSocketAddress address, String export) throws IOException {
        NbdTestClient c = raw(address);
        c.handshake(export, true, true);
        return c;
    }

    public static NbdTestClient connectUnix(Path socket, String export) throws IOException {
        NbdTestClient c = rawUnix(socket);
        c.handshake(export, true, true);
        return c;
    }

    /** Reads the greeting and sends the client flags (FIXED_NEWSTYLE | NO_ZEROES). */
    public void greet() throws IOException {
        long magic = in.readLong();
        long opt = in.readLong();
        if (magic != NBDMAGIC || opt != IHAVEOPT) {
            throw new IOException("bad server greeting");
        }
        handshakeFlags = in.readUnsignedShort();
        out.writeInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
        out.flush();
    }

    /** Full handshake ending with NBD_OPT_GO; failures throw NbdReplyException naming the reply type. */
    public void handshake(String export, boolean wantStructured, boolean wantMeta) throws IOException {
        greet();
        negotiate(export, wantStructured, wantMeta);
    }

    /** The options of {@link #handshake} after the greeting (e.g. once TLS is up), ending with NBD_OPT_GO. */
    public void negotiate(String export, boolean wantStructured, boolean wantMeta) throws IOException {
        if (wantStructured) {
            List<OptionReply> r = option(OPT_STRUCTURED_REPLY, new byte[0]);
            structured = !r.get(r.size() - 1).isError();
        }
        if (structured && wantMeta) {
            for (OptionReply r : option(OPT_SET_META_CONTEXT, metaContextData(export, BASE_ALLOCATION))) {
                if (r.type() == REP_META_CONTEXT) {
                    metaContextId = ByteBuffer.wrap(r.data()).getInt();
                }
            }
        }
        go(export);
    }

    /** Sends NBD_OPT_GO and reads its replies; on success the client is in transmission. */
    public void go(String export) throws IOException {
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + name.length + 2 + 4);
        b.putInt(name.length).put(name).putShort((short) 2).putShort((short) INFO_NAME).putShort((short) INFO_BLOCK_SIZE);
        List<OptionReply> replies = option(OPT_GO, b.array());
        OptionReply last = replies.get(replies.size() - 1);
        if (last.isError()) {
            throw new NbdReplyException(last.type(), "NBD_OPT_GO refused (reply type 0x" + Integer.toHexString(last.type())
                    + "): " + new String(last.data(), StandardCharsets.UTF_8));
        }
        for (OptionReply r : replies) {
            if (r.type() == REP_INFO) {
                ByteBuffer d = ByteBuffer.wrap(r.data());
                int info = d.getShort() & 0xffff;
                if (info == INFO_EXPORT) {
                    size = d.getLong();
                    transmissionFlags = d.getShort() & 0xffff;
                } else if (info == INFO_BLOCK_SIZE) {
                    minBlock = d.getInt();
                    prefBlock = d.getInt();
                    maxPayload = d.getInt();
                }
            }
        }
    }

    public static byte[] metaContextData(String export, String... queries) {
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        int len = 8 + name.length;
        for (String q : queries) {
            len += 4 + q.getBytes(StandardCharsets.UTF_8).length;
        }
        ByteBuffer b = ByteBuffer.allocate(len);
        b.putInt(name.length).put(name).putInt(queries.length);
        for (String q : queries) {
            byte[] qb = q.getBytes(StandardCharsets.UTF_8);
            b.putInt(qb.length).put(qb);
        }
        return b.array();
    }

    /** Sends one option and reads replies up to the final one (ACK or an error). */
    public List<OptionReply> option(int option, byte[] data) throws IOException {
        sendOption(option, data);
        List<OptionReply> replies = new ArrayList<>();
        while (true) {
            OptionReply r = readOptionReply();
            replies.add(r);
            if (r.type() == REP_ACK || r.isError()) {
                return replies;
            }
        }
    }

    public void sendOption(int option, byte[] data) throws IOException {
        out.writeLong(IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    public OptionReply readOptionReply() throws IOException {
        long magic = in.readLong();
        if (magic != REPLY_MAGIC) {
            throw new IOException("bad option reply magic 0x" + Long.toHexString(magic));
        }
        int opt = in.readInt();
        int type = in.readInt();
        int len = in.readInt();
        if (len < 0 || len > (1 << 20)) {
            throw new IOException("option reply too long: " + len);
        }
        byte[] d = new byte[len];
        in.readFully(d);
        return new OptionReply(opt, type, d);
    }

    /** Reads the 8+2 byte NBD_OPT_EXPORT_NAME answer (NO_ZEROES negotiated). */
    public void exportName(String export) throws IOException {
        sendOption(OPT_EXPORT_NAME, export.getBytes(StandardCharsets.UTF_8));
        size = in.readLong();
        transmissionFlags = in.readUnsignedShort();
    }

    public long size() {
        return size;
    }

    public int transmissionFlags() {
        return transmissionFlags;
    }

    public int handshakeFlags() {
        return handshakeFlags;
    }

    public boolean structured() {
        return structured;
    }

    public int minBlock() {
        return minBlock;
    }

    public int preferredBlock() {
        return prefBlock;
    }

    public int maxPayload() {
        return maxPayload;
    }

    public int metaContextId() {
        return metaContextId;
    }

    // ---- transmission ----

    /** Sends a request without waiting; returns its cookie. */
    public long send(int type, int flags, long offset, long length, byte[] payload) throws IOException {
        long cookie = nextCookie.getAndIncrement();
        // Registered before sending: a receiving thread may see the reply at once.
        pending.put(cookie, new Pending(type, offset, (int) length));
        out.writeInt(REQUEST_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(cookie);
        out.writeLong(offset);
        out.writeInt((int) length);
        if (payload != null) {
            out.write(payload);
        }
        out.flush();
        return cookie;
    }

    /** Reads the next reply (any request: replies may come out of order). */
    public Reply receive() throws IOException {
        int magic = in.readInt();
        if (magic == SIMPLE_REPLY_MAGIC) {
            int errno = in.readInt();
            long cookie = in.readLong();
            Pending p = take(cookie);
            byte[] data = null;
            if (p.type() == CMD_READ && errno == 0) {
                data = new byte[p.length()];
                in.readFully(data);
            }
            return new Reply(cookie, errno, data, null, false);
        }
        if (magic != STRUCTURED_REPLY_MAGIC) {
            throw new IOException("bad reply magic 0x" + Integer.toHexString(magic));
        }
        long cookie = -1;
        int errno = 0;
        byte[] data = null;
        List<long[]> extents = null;
        Pending p = null;
        while (true) {
            if (cookie != -1) {
                int m = in.readInt();
                if (m != STRUCTURED_REPLY_MAGIC) {
                    throw new IOException("bad chunk magic 0x" + Integer.toHexString(m));
                }
            }
            int flags = in.readUnsignedShort();
            int type = in.readUnsignedShort();
            long c = in.readLong();
            if (cookie != -1 && c != cookie) {
                throw new IOException("chunks of two replies interleaved");
            }
            cookie = c;
            if (p == null) {
                p = pending.get(cookie);
                if (p == null) {
                    throw new IOException("reply for unknown cookie " + cookie);
                }
            }
            long len = in.readInt() & 0xffffffffL;
            switch (type) {
                case REPLY_TYPE_NONE -> {
                    if (len != 0) {
                        throw new IOException("NONE chunk with length " + len);
                    }
                }
                case REPLY_TYPE_OFFSET_DATA -> {
                    long off = in.readLong();
                    int n = (int) (len - 8);
                    if (data == null) {
                        data = new byte[p.length()];
                    }
                    int at = (int) (off - p.offset());
                    if (at < 0 || at + n > p.length()) {
                        throw new IOException("data chunk outside the request");
                    }
                    in.readFully(data, at, n);
                }
                case REPLY_TYPE_OFFSET_HOLE -> {
                    in.readLong();
                    in.readInt();
                    if (data == null) {
                        data = new byte[p.length()];
                    }
                }
                case REPLY_TYPE_BLOCK_STATUS -> {
                    int id = in.readInt();
                    if (id != metaContextId) {
                        throw new IOException("block status for unknown context " + id);
                    }
                    extents = new ArrayList<>();
                    for (long i = 0; i < (len - 4) / 8; i++) {
                        extents.add(new long[] {in.readInt() & 0xffffffffL, in.readInt() & 0xffffffffL});
                    }
                }
                default -> {
                    if ((type & 0x8000) == 0) {
                        throw new IOException("unknown chunk type " + type);
                    }
                    errno = in.readInt();
                    int ml = in.readUnsignedShort();
                    in.skipNBytes(len - 6);
                    if (ml > len - 6) {
                        throw new IOException("error message longer than its chunk");
                    }
                }
            }
            if ((flags & REPLY_FLAG_DONE) != 0) {
                break;
            }
        }
        take(cookie);
        if (errno == 0 && data == null && p.type() == CMD_READ) {
            data = new byte[p.length()];
        }
        return new Reply(cookie, errno, errno == 0 ? data : null, extents, true);
    }

    private Pending take(long cookie) throws IOException {
        Pending p = pending.remove(cookie);
        if (p == null) {
            throw new IOException("reply for unknown cookie " + cookie);
        }
        return p;
    }

    /** Sends a request and waits for its reply (nothing else may be in flight). */
    public Reply call(int type, int flags, long offset, long length, byte[] payload) throws IOException {
        long cookie = send(type, flags, offset, length, payload);
        Reply r = receive();
        if (r.cookie() != cookie) {
            throw new IOException("reply for cookie " + r.cookie() + ", expected " + cookie);
        }
        return r;
    }

    private static Reply check(Reply r, String what) throws NbdReplyException {
        if (r.errno() != 0) {
            throw new NbdReplyException(r.errno(), what + " failed with errno " + r.errno());
        }
        return r;
    }

    public byte[] read(long offset, int length) throws IOException {
        return check(call(CMD_READ, 0, offset, length, null), "read").data();
    }

    public void write(long offset, byte[] data, boolean fua) throws IOException {
        check(call(CMD_WRITE, fua ? CMD_FLAG_FUA : 0, offset, data.length, data), "write");
    }

    public void flush() throws IOException {
        check(call(CMD_FLUSH, 0, 0, 0, null), "flush");
    }

    public void trim(long offset, long length, boolean fua) throws IOException {
        check(call(CMD_TRIM, fua ? CMD_FLAG_FUA : 0, offset, length, null), "trim");
    }

    public void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
        int flags = (noHole ? CMD_FLAG_NO_HOLE : 0) | (fua ? CMD_FLAG_FUA : 0);
        check(call(CMD_WRITE_ZEROES, flags, offset, length, null), "write zeroes");
    }

    /** base:allocation extents as (length, flags) pairs. */
    public List<long[]> blockStatus(long offset, long length, boolean reqOne) throws IOException {
        return check(call(CMD_BLOCK_STATUS, reqOne ? CMD_FLAG_REQ_ONE : 0, offset, length, null), "block status")
                .extents();
    }

    /** NBD_CMD_DISC, then waits for the server to close the connection. */
    public void disconnect() throws IOException {
        send(CMD_DISC, 0, 0, 0, null);
        pending.clear();
        awaitClose();
    }

    /** True once the server has closed the connection (reads until EOF, discarding data); false on read timeout. */
    public boolean awaitClose() throws IOException {
        try {
            while (in.read() >= 0) {
                // discard
            }
            return true;
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    // ---- raw access for fuzzing ----

    /**
     * NBD_OPT_STARTTLS, then the TLS handshake over the same TCP socket with {@code tls}; what
     * follows (options, transmission) is encrypted. Throws NbdReplyException when the server
     * does not ACK, and the SSLException of a failed handshake.
     */
    public void startTls(javax.net.ssl.SSLContext tls) throws IOException {
        OptionReply r = option(OPT_STARTTLS, new byte[0]).get(0);
        if (r.type() != REP_ACK) {
            throw new NbdReplyException(0, "NBD_OPT_STARTTLS answered with reply type 0x" + Integer.toHexString(r.type()));
        }
        InetSocketAddress peer = (InetSocketAddress) socket.getRemoteSocketAddress();
        javax.net.ssl.SSLSocket ssl = (javax.net.ssl.SSLSocket) tls.getSocketFactory()
                .createSocket(socket, peer.getHostString(), peer.getPort(), true);
        ssl.setUseClientMode(true);
        ssl.startHandshake();
        channel = ssl;
        in = new DataInputStream(new java.io.BufferedInputStream(ssl.getInputStream(), 1 << 16));
        out = new DataOutputStream(new java.io.BufferedOutputStream(ssl.getOutputStream(), 1 << 16));
    }

    public void sendRaw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    public DataInputStream input() {
        return in;
    }

    /** The TCP socket (null over a Unix socket). */
    public Socket socket() {
        return socket;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
