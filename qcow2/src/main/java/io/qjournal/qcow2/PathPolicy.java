package io.qjournal.qcow2;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Which files an open may touch. An image's header names its backing file, so whoever writes
 * the image chooses what the engine reads; a server that opens images it did not make sets a
 * policy (see {@link OpenOptions#pathPolicy}) and the engine asks it before opening the image
 * itself and every backing file at every depth of the chain. Without a policy every path is
 * allowed, as in QEMU.
 */
@FunctionalInterface
public interface PathPolicy {
    /** What a checked file is to the open. */
    enum Role {
        IMAGE("image"),
        BACKING_FILE("backing file");

        private final String label;

        Role(String label) {
            this.label = label;
        }

        @Override
        public String toString() {
            return label;
        }
    }

    /**
     * Throws, with the one line to show the user, when the file must not be opened.
     *
     * @param realPath the file's real path: absolute, every symlink followed; the engine then
     *     opens this path, not the name that led to it
     * @param role what the file is
     * @param referrer for a backing file the image whose header names it; null for the image
     */
    void check(Path realPath, Role role, Path referrer) throws IOException;
}
