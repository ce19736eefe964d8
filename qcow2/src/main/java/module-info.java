/**
 * The qcow2 engine with its metadata journal. Exports what the daemon, the command line and
 * the batch jobs use (the facade and its options, storage, check, header, the journal's
 * format for inspection tools, dedup-compaction); the image's inside (cluster, journal,
 * table, refcount, cache, meta, snapshot, bitmap, compress) stays internal.
 */
module io.qjournal.qcow2 {
    requires com.github.luben.zstd_jni;
    // ZeroFill's fast path (sun.misc.Unsafe), with a portable fallback.
    requires jdk.unsupported;

    exports io.qjournal.qcow2;
    exports io.qjournal.qcow2.check;
    exports io.qjournal.qcow2.dedup;
    exports io.qjournal.qcow2.header;
    exports io.qjournal.qcow2.journal.format;
    exports io.qjournal.qcow2.storage;
}
