package io.qjournal.daemon;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * systemd's readiness protocol: a datagram to $NOTIFY_SOCKET (a path, or '@' for Linux's
 * abstract namespace). Java has no Unix datagram socket, so Netty's native epoll transport
 * sends it; where that is unavailable, {@code systemd-notify} does (the unit then needs
 * NotifyAccess=all, which it sets).
 */
public final class SdNotify implements AutoCloseable {
    private final String socket = System.getenv("NOTIFY_SOCKET");
    private EventLoopGroup group;
    private Channel channel;
    private boolean nettyFailed;

    public boolean enabled() {
        return socket != null && !socket.isEmpty();
    }

    /** Sends one state ("READY=1", "STOPPING=1", "STATUS=..."); failures are logged, not thrown. */
    public synchronized void send(String state) {
        if (!enabled()) {
            return;
        }
        if (!nettyFailed) {
            try {
                sendNetty(state);
                Log.debug(null, "sd_notify " + state);
                return;
            } catch (Exception | LinkageError e) {
                nettyFailed = true;
                Log.warn(null, "sd_notify through epoll failed (" + Log.reason(e) + "); using systemd-notify");
            }
        }
        sendCommand(state);
    }

    private void sendNetty(String state) throws Exception {
        if (!Epoll.isAvailable()) {
            throw new IllegalStateException("native epoll unavailable: " + Epoll.unavailabilityCause());
        }
        if (channel == null) {
            // Abstract socket names start with a NUL byte in sockaddr_un; systemd writes it as '@'.
            String path = socket.startsWith("@") ? "\0" + socket.substring(1) : socket;
            group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
            // A connected datagram socket: an unconnected one counts as inactive in Netty.
            channel = new Bootstrap().group(group).channel(EpollDomainDatagramChannel.class)
                    .handler(new ChannelInboundHandlerAdapter()).connect(new DomainSocketAddress(path))
                    .sync().channel();
        }
        channel.writeAndFlush(Unpooled.copiedBuffer(state, StandardCharsets.UTF_8)).sync();
    }

    private void sendCommand(String state) {
        try {
            Process p = new ProcessBuilder("systemd-notify", state).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                Log.warn(null, "systemd-notify " + state + " did not finish");
            } else if (p.exitValue() != 0) {
                Log.warn(null, "systemd-notify " + state + " failed with status " + p.exitValue());
            }
        } catch (Exception e) {
            Log.error(null, "cannot notify systemd (" + state + "): " + Log.reason(e), e);
        }
    }

    @Override
    public synchronized void close() {
        if (channel != null) {
            channel.close().awaitUninterruptibly(1, TimeUnit.SECONDS);
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }
}
