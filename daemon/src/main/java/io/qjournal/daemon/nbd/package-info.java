/**
 * The NBD server of qjournald ({@link io.qjournal.daemon.nbd.NbdServer}) and its contract with
 * the daemon ({@link io.qjournal.daemon.nbd.NbdExport}, {@link io.qjournal.daemon.nbd.NbdExports},
 * {@link io.qjournal.daemon.nbd.NbdError}).
 *
 * <h2>Protocol</h2>
 * Fixed newstyle handshake only (handshake flags FIXED_NEWSTYLE and NO_ZEROES). Options:
 * EXPORT_NAME, ABORT, LIST, INFO and GO (NBD_INFO_EXPORT always, NAME and DESCRIPTION when
 * asked, BLOCK_SIZE always), STRUCTURED_REPLY, LIST_META_CONTEXT and SET_META_CONTEXT with the
 * one context {@code base:allocation} ({@code base:} lists it too); anything else, EXTENDED_HEADERS
 * included, is answered NBD_REP_ERR_UNSUP; an unknown export NBD_REP_ERR_UNKNOWN (EXPORT_NAME,
 * which has no error reply, ends the session).
 *
 * <p>TLS ({@link io.qjournal.daemon.nbd.NbdTls}, when configured, on every listener): the spec's
 * FORCEDTLS mode. Before STARTTLS only STARTTLS and ABORT are served, anything else is answered
 * NBD_REP_ERR_TLS_REQD and EXPORT_NAME ends the session; after its ACK a Netty SslHandler is put
 * in front of the pipeline and the handshake goes on encrypted. Without TLS configured STARTTLS
 * is answered NBD_REP_ERR_POLICY, as QEMU does.
 *
 * <p>Commands: READ (one OFFSET_DATA chunk when structured replies are on, so DF is honoured
 * and advertised), WRITE, FLUSH, TRIM, WRITE_ZEROES (NO_HOLE), BLOCK_STATUS (REQ_ONE honoured;
 * at most 65,536 descriptors, never past the request), DISC (requests in flight are answered,
 * then the connection closes). FUA is accepted on every command. Transmission flags: HAS_FLAGS,
 * SEND_FLUSH, SEND_FUA, CAN_MULTI_CONN (a flush covers every connection: the engine's flush is
 * global), READ_ONLY or SEND_TRIM and SEND_WRITE_ZEROES, SEND_DF with structured replies.
 *
 * <h2>Errors</h2>
 * Read-only exports answer writes with EPERM; a range beyond the export EINVAL (ENOSPC for
 * WRITE and WRITE_ZEROES, as QEMU's server does); unknown commands and flags EINVAL; a READ over
 * the maximum payload EINVAL. A WRITE over the maximum payload ends the connection: its data
 * cannot be skipped without reading it. A bad magic, client flags the server does not know, an
 * option over 16 KiB or more than 4096 options end the connection. Export errors reach the
 * client as their {@link io.qjournal.daemon.nbd.NbdError#errno()}, anything else as EIO.
 *
 * <h2>Threads and memory</h2>
 * Protocol work runs on Netty event loops (epoll when available, NIO otherwise); export calls
 * block, so they run on a pool of worker threads, many per connection, and replies go out as
 * they finish, possibly out of order. Memory is counted per connection as it is really held
 * (input as it arrives, WRITE payloads, READ replies from before they are allocated until
 * written), never from a length a header claims: each connection has 64 requests and 64 MiB at
 * most, 128 KiB of its own and the rest borrowed from a shared pool, so all connections hold
 * at most maxConnections x 128 KiB + the pool ({@link io.qjournal.daemon.nbd.NbdLimits}). Over
 * its budget a connection stops reading, which holds back only itself; handshake, payload and
 * reply timeouts close a client that stalls. Data moves in pooled
 * direct buffers whose NIO views the export reads into and writes from.
 */
package io.qjournal.daemon.nbd;
