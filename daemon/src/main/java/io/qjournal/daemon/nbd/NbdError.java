package io.qjournal.daemon.nbd;

import java.io.IOException;

/** An error with the NBD errno its client gets (values of the NBD protocol, as Linux errno). */
public class NbdError extends IOException {
    public static final int EPERM = 1;
    public static final int EIO = 5;
    public static final int ENOMEM = 12;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EOVERFLOW = 75;
    public static final int ENOTSUP = 95;
    public static final int ESHUTDOWN = 108;

    private final int errno;

    public NbdError(int errno, String message) {
        super(message);
        this.errno = errno;
    }

    public NbdError(int errno, String message, Throwable cause) {
        super(message, cause);
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
