package io.qjournal.daemon.nbd;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * Netty's adaptive read-buffer sizing, but never a buffer larger than the connection's room
 * ({@link ConnectionMemory#readRoom()}): so input, too, stays within the connection's budget
 * instead of arriving first and being counted after.
 */
final class BudgetedRecvAllocator implements RecvByteBufAllocator {
    private final RecvByteBufAllocator sizing;
    private final ConnectionMemory memory;

    BudgetedRecvAllocator(RecvByteBufAllocator sizing, ConnectionMemory memory) {
        this.sizing = sizing;
        this.memory = memory;
    }

    @Override
    public Handle newHandle() {
        return new CappedHandle((ExtendedHandle) sizing.newHandle(), memory);
    }

    private static final class CappedHandle implements ExtendedHandle {
        private final ExtendedHandle delegate;
        private final ConnectionMemory memory;

        CappedHandle(ExtendedHandle delegate, ConnectionMemory memory) {
            this.delegate = delegate;
            this.memory = memory;
        }

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            return alloc.ioBuffer(guess());
        }

        @Override
        public int guess() {
            return memory.nextRead(delegate.guess());
        }

        @Override
        public void reset(ChannelConfig config) {
            delegate.reset(config);
        }

        @Override
        public void incMessagesRead(int numMessages) {
            delegate.incMessagesRead(numMessages);
        }

        @Override
        public void lastBytesRead(int bytes) {
            delegate.lastBytesRead(bytes);
        }

        @Override
        public int lastBytesRead() {
            return delegate.lastBytesRead();
        }

        @Override
        public void attemptedBytesRead(int bytes) {
            delegate.attemptedBytesRead(bytes);
        }

        @Override
        public int attemptedBytesRead() {
            return delegate.attemptedBytesRead();
        }

        @Override
        public boolean continueReading() {
            return delegate.continueReading();
        }

        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreDataSupplier) {
            return delegate.continueReading(maybeMoreDataSupplier);
        }

        @Override
        public void readComplete() {
            delegate.readComplete();
        }
    }
}
