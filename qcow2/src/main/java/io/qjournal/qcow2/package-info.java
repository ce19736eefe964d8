/**
 * The engine's top: {@link io.qjournal.qcow2.Qcow2Image}, an open image safe for many threads,
 * and what it is made of. One package per on-disk structure lies below (header, table,
 * refcount, snapshot, bitmap, journal, meta, check, dedup); this one ties them together:
 *
 * <ul>
 *   <li>{@code ImageOpener}: locking, the header's vetting, journal replay (into memory for a
 *       read-only open), the dirty bit's repair; image creation.
 *   <li>{@code DataPath}: guest reads and writes through L1/L2, allocation, copy-on-write;
 *       {@code ZeroesAndDiscard}, {@code CompressedClusters} and {@code ClusterStatus} beside it.
 *   <li>{@code MetadataWriteback}: cached metadata to disk in dependency order (refcount
 *       blocks, refcount table, L2 tables, L1), or as one journal transaction; the frees that
 *       wait for it; the header's updates.
 *   <li>{@code ImageJournal}: the journal's life (deferred to the first write, created,
 *       attached after replay, removed at a clean close) and its commit timer.
 *   <li>{@code DataWritesInFlight}: guest data written after the image lock is released, which
 *       metadata must wait for.
 *   <li>{@code Maintenance}: the offline hooks of dedup-compaction.
 * </ul>
 */
package io.qjournal.qcow2;
