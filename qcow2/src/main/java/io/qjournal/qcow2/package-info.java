/**
 * The engine's top: {@link io.qjournal.qcow2.Qcow2Image}, an open image safe for many threads,
 * and what it is made of. One package per on-disk structure lies below (header, table,
 * refcount, snapshot, bitmap, meta, check, dedup); {@code cluster} holds the image's shared
 * state and the guest data path, {@code journal} the journal's image side (its on-disk format
 * in {@code journal.format}); this one ties them together:
 *
 * <ul>
 *   <li>{@code ImageOpener}: locking, the header's vetting, journal replay (into memory for a
 *       read-only open), the dirty bit's repair, the image state; image creation.
 *   <li>{@code MetadataWriteback}: cached metadata to disk in dependency order (refcount
 *       blocks, refcount table, L2 tables, L1), or as one journal transaction; the frees that
 *       wait for it; the header's updates.
 * *   <li>{@code Maintenance}: the offline hooks of dedup-compaction.
 * </ul>
 */
package io.qjournal.qcow2;
