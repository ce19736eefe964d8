package io.qjournal.qcow2.storage;

import java.io.IOException;

/**
 * The image is locked by another user (QEMU, a qjournald, another open in this JVM): callers
 * such as batch sweeps report it as "in use" and leave the file alone.
 */
public class ImageInUseException extends IOException {
    public ImageInUseException(String message) {
        super(message);
    }
}
