package io.qjournal.jmx;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.rmi.server.RMIServerSocketFactory;

/**
 * Listens on one address only. RMI shares a listening socket between every object exported
 * with an equal factory and port, which is what puts one agent's registry, connector server and
 * per-client connection objects on its one port. Equality is identity on purpose: an agent
 * started after another one closed must not be handed RMI's cached endpoint of the old one.
 */
final class HostBoundSocketFactory implements RMIServerSocketFactory {
    private final InetAddress address;

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
        return socket;
    }
}
