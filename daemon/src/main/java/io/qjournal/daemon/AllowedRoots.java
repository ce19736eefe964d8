package io.qjournal.daemon;

import io.qjournal.qcow2.PathPolicy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The directories the daemon may open files in: every image-dir, every allow-dir and the
 * directory of every image given at start. An image's header names its backing file, and an
 * image is what a tenant uploads: without this rule a qcow2 whose backing file is /etc/shadow
 * would serve that file to any NBD client. Every image and every backing file is checked by
 * its real path (symlinks followed), so neither a symlink nor "../" leads outside.
 */
final class AllowedRoots implements PathPolicy {
    static final String RULE = "the allowed directories (--image-dir, --allow-dir, directories of --image)";

    private final List<Path> roots;

    private AllowedRoots(List<Path> roots) {
        this.roots = List.copyOf(roots);
    }

    /** The roots of a configuration, each by its real path; a missing allow-dir is a config error. */
    static AllowedRoots of(DaemonConfig c) throws ConfigException {
        Set<Path> roots = new LinkedHashSet<>();
        for (Path d : c.imageDirs) {
            roots.add(realDirectory(d, "image-dir"));
        }
        for (Path d : c.allowDirs) {
            roots.add(realDirectory(d, "allow-dir"));
        }
        for (ImageSpec s : c.images) {
            // The operator named this file: both the directory it was named in and, when it is a
            // symlink, the directory it really lies in (an overlay's base beside either works).
            Path given = s.path().toAbsolutePath().getParent();
            addIfDirectory(roots, given);
            try {
                addIfDirectory(roots, s.path().toRealPath().getParent());
            } catch (IOException e) {
                // a missing image fails its own open with a clear line
            }
        }
        return new AllowedRoots(new ArrayList<>(roots));
    }

    static AllowedRoots of(List<Path> realRoots) {
        return new AllowedRoots(realRoots);
    }

    List<Path> roots() {
        return roots;
    }

    private static Path realDirectory(Path d, String key) throws ConfigException {
        if (!Files.isDirectory(d)) {
            throw new ConfigException(key + " " + d + ": not a directory");
        }
        try {
            return d.toRealPath();
        } catch (IOException e) {
            throw new ConfigException(key + " " + d + ": cannot resolve (" + Log.reason(e) + ")");
        }
    }

    private static void addIfDirectory(Set<Path> roots, Path dir) {
        if (dir == null) {
            return;
        }
        try {
            roots.add(dir.toRealPath());
        } catch (IOException e) {
            // a directory that does not exist holds nothing to open
        }
    }

    /** Containment by path components, so /srv/images2 is not inside /srv/images. */
    boolean allows(Path realPath) {
        for (Path r : roots) {
            if (realPath.startsWith(r) && !realPath.equals(r)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void check(Path realPath, Role role, Path referrer) throws IOException {
        if (allows(realPath)) {
            return;
        }
        String what = referrer == null ? realPath.toString()
                : role + " " + realPath + " (of " + referrer.toAbsolutePath() + ")";
        throw new IOException(what + " is outside " + RULE);
    }
}
