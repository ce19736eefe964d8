package io.qjournal.qcow2.crash;

import io.qjournal.qcow2.Qcow2Image;
import io.qjournal.qcow2.testsupport.PowerLossStorage;
import java.io.IOException;

/** Runs guest operations on an image and stamps each with the storage operations it spans. */
final class GuestDriver {
    private final Qcow2Image img;
    private final PowerLossStorage storage;
    private final GuestModel model;
    private final int clusterSize;
    private int writes;

    GuestDriver(Qcow2Image img, PowerLossStorage storage, GuestModel model) {
        this.img = img;
        this.storage = storage;
        this.model = model;
        this.clusterSize = img.clusterSize();
    }

    Qcow2Image image() {
        return img;
    }

    int clusterSize() {
        return clusterSize;
    }

    int window() {
        return model.window();
    }

    // A write that fails may still have landed in part: it is recorded either way (in flight).

    /**
     * Every other write comes from a direct buffer, as the daemon's and bench's do: that path
     * writes straight from the buffer and leaves fresh clusters' data for after the lock.
     */
    void write(long offset, byte[] data) throws IOException {
        int start = storage.opCount();
        boolean ok = false;
        try {
            if ((writes++ & 1) == 1) {
                img.write(offset, java.nio.ByteBuffer.allocateDirect(data.length).put(data).flip());
            } else {
                img.write(offset, data, 0, data.length);
            }
            ok = true;
        } finally {
            record(ok, new GuestModel.Op(GuestModel.Kind.WRITE, offset, data.length, data.clone(), start,
                    storage.opCount()));
        }
    }

    void writeZeroes(long offset, long len) throws IOException {
        int start = storage.opCount();
        boolean ok = false;
        try {
            img.writeZeroes(offset, len);
            ok = true;
        } finally {
            record(ok, new GuestModel.Op(GuestModel.Kind.ZERO, offset, len, null, start, storage.opCount()));
        }
    }

    /** Discards whole clusters only, so the model can say they read as zeros afterwards (v3). */
    void discard(long offset, long len) throws IOException {
        if (offset % clusterSize != 0 || len % clusterSize != 0) {
            throw new IllegalArgumentException("workload discards must be cluster aligned");
        }
        int start = storage.opCount();
        boolean ok = false;
        try {
            img.discard(offset, len);
            ok = true;
        } finally {
            record(ok, new GuestModel.Op(GuestModel.Kind.ZERO, offset, len, null, start, storage.opCount()));
        }
    }

    private void record(boolean ok, GuestModel.Op op) {
        if (ok) {
            model.add(op);
        } else {
            model.addFailed(op);
        }
    }

    /** Only a flush that returned counts: a failed one promises nothing. */
    void flush() throws IOException {
        int start = storage.opCount();
        img.flush();
        model.add(new GuestModel.Op(GuestModel.Kind.FLUSH, 0, 0, null, start, storage.opCount()));
    }

    void resize(long newSize) throws IOException {
        int start = storage.opCount();
        img.resize(newSize);
        model.add(new GuestModel.Op(GuestModel.Kind.RESIZE, newSize, 0, null, start, storage.opCount()));
    }

    /** Close makes everything durable, like a flush. */
    void close() throws IOException {
        int start = storage.opCount();
        img.close();
        model.add(new GuestModel.Op(GuestModel.Kind.FLUSH, 0, 0, null, start, storage.opCount()));
    }
}
