package io.qjournal.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Test images made by the real qemu-img/qemu-io, covering the layouts the CLI must read:
 * cluster sizes, compression, backing chains, snapshots, subclusters, old format, preallocation.
 */
final class ImageKinds {
    static final List<String> ALL = List.of("c512", "c64k", "c2M", "zlib", "zstd", "backing-raw", "backing-chain",
            "snapshots", "extl2", "v2", "prealloc", "refcount64");

    private ImageKinds() {
    }

    /** Builds the kind in {@code dir}; returns the top image's file name (relative to dir). */
    static String build(Path dir, String kind) {
        switch (kind) {
            case "c512":
                qcow2(dir, "img.qcow2", "8M", "cluster_size=512");
                io(dir, "img.qcow2", "write -P 0x11 0 4k", "write -P 0x22 1000k 3000", "write -z 4096 512",
                        "write -P 0x33 7M 1M", "discard 7M 4k");
                return "img.qcow2";
            case "c64k":
                mixed(dir, "img.qcow2", "cluster_size=64k");
                return "img.qcow2";
            case "c2M":
                mixed(dir, "img.qcow2", "cluster_size=2M");
                return "img.qcow2";
            case "zlib":
            case "zstd":
                mixed(dir, "src.qcow2", "cluster_size=64k");
                tool(dir, "qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=" + kind, "src.qcow2", "img.qcow2");
                return "img.qcow2";
            case "backing-raw":
                tool(dir, "qemu-img", "create", "-f", "raw", "base.raw", "16M");
                // A fully written base: QEMU reports holes of sparse raw files, which Java cannot see.
                io(dir, "base.raw", "-f", "raw", "write -P 0x5a 0 16M");
                tool(dir, "qemu-img", "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "img.qcow2");
                io(dir, "img.qcow2", "write -P 0x11 64k 64k", "write -z 1M 128k", "write -P 0x22 3M 5000", "discard 64k 64k");
                return "img.qcow2";
            case "backing-chain":
                qcow2(dir, "base.qcow2", "16M", "cluster_size=64k");
                io(dir, "base.qcow2", "write -P 0x01 0 8M", "write -P 0x02 15M 1M");
                tool(dir, "qemu-img", "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2");
                io(dir, "mid.qcow2", "write -P 0x03 1M 1M", "write -z 2M 1M");
                tool(dir, "qemu-img", "create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "img.qcow2", "24M");
                io(dir, "img.qcow2", "write -P 0x04 1536k 64k", "write -P 0x05 20M 64k");
                return "img.qcow2";
            case "snapshots":
                qcow2(dir, "img.qcow2", "16M", "cluster_size=64k");
                io(dir, "img.qcow2", "write -P 0x21 0 1M");
                tool(dir, "qemu-img", "snapshot", "-c", "first", "img.qcow2");
                io(dir, "img.qcow2", "write -P 0x22 512k 1M");
                tool(dir, "qemu-img", "snapshot", "-c", "second", "img.qcow2");
                io(dir, "img.qcow2", "write -P 0x23 0 4k", "discard 1M 64k");
                return "img.qcow2";
            case "extl2":
                qcow2(dir, "img.qcow2", "16M", "cluster_size=64k,extended_l2=on");
                io(dir, "img.qcow2", "write -P 0x31 0 2k", "write -P 0x32 6k 2k", "write -z 64k 4k",
                        "write -P 0x33 1M 70k", "discard 1M 64k", "write -P 0x34 5M 1000");
                return "img.qcow2";
            case "v2":
                qcow2(dir, "img.qcow2", "8M", "compat=0.10");
                io(dir, "img.qcow2", "write -P 0x41 0 100k", "write -z 1M 64k", "write -P 0x42 7M 64k");
                return "img.qcow2";
            case "prealloc":
                qcow2(dir, "img.qcow2", "16M", "cluster_size=4k,preallocation=metadata");
                io(dir, "img.qcow2", "write -P 0x51 8k 8k", "write -P 0x52 9M 20k");
                return "img.qcow2";
            case "refcount64":
                qcow2(dir, "img.qcow2", "8M", "refcount_bits=64,lazy_refcounts=on");
                io(dir, "img.qcow2", "write -P 0x61 0 3M");
                return "img.qcow2";
            default:
                throw new IllegalArgumentException(kind);
        }
    }

    /** Data, zero writes, unaligned writes and a discard in one image. */
    private static void mixed(Path dir, String name, String opts) {
        qcow2(dir, name, "64M", opts);
        io(dir, name, "write -P 0x11 0 256k", "write -P 0x12 1000000 70000", "write -z 128k 64k",
                "write -P 0x13 32M 4M", "discard 33M 1M", "write -P 0x14 63M 1M");
    }

    static void qcow2(Path dir, String name, String size, String opts) {
        tool(dir, "qemu-img", "create", "-f", "qcow2", "-o", opts, name, size);
    }

    /** qemu-io on {@code name}: arguments starting with "-f" pass through, the rest are -c commands. */
    static void io(Path dir, String name, String... cmds) {
        List<String> c = new ArrayList<>(List.of("qemu-io"));
        for (int i = 0; i < cmds.length; i++) {
            if (cmds[i].equals("-f")) {
                c.add("-f");
                c.add(cmds[++i]);
            } else {
                c.add("-c");
                c.add(cmds[i]);
            }
        }
        c.add(name);
        tool(dir, c.toArray(new String[0]));
    }

    static void tool(Path dir, String... cmd) {
        Launcher.tool(dir, cmd);
    }
}
