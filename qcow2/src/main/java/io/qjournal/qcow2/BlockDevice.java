package io.qjournal.qcow2;

import java.io.Closeable;
import java.io.IOException;

/** A readable virtual disk: a qcow2 image or a raw file, used as a backing file. */
public interface BlockDevice extends Closeable {
    /** Virtual size in bytes. */
    long size();

    /** Reads guest bytes; ranges beyond {@link #size()} read as zeros. */
    void read(long offset, byte[] buf, int off, int len) throws IOException;

    /** The file name, for messages. */
    String name();
}
