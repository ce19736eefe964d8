package io.qjournal.jmx;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.rmi.server.RMIServerSocketFactory;

/**
 * Listens on one address only. RMI shares a listening socket between every object exported
 * with an equal factory and port, which is what puts the registry and the connector server
 * (and every per-client connection object) on the one configured port: hence equals/hashCode.
 */
final class HostBoundSocketFactory implements RMIServerSocketFactory {
    private final InetAddress address;
    private volatile int lastBoundPort = -1;

    HostBoundSocketFactory(InetAddress address) {
        this.address = address;
    }

    @Override
    public ServerSocket createServerSocket(int port) throws IOException {
        ServerSocket socket = new ServerSocket();
        try {
            socket.setReuseAddress(true);
            socket.bind(new java.net.InetSocketAddress(address, port), 50);
        } catch (IOException e) {
            socket.close();
            throw e;
        }
        lastBoundPort = socket.getLocalPort();
        return socket;
    }

    /** The port of the last socket created: how port 0 learns what the registry got. */
    int lastBoundPort() {
        return lastBoundPort;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HostBoundSocketFactory && ((HostBoundSocketFactory) o).address.equals(address);
    }

    @Override
    public int hashCode() {
        return address.hashCode();
    }
}
