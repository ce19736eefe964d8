/**
 * The journal's image side; its on-disk format (ring, descriptors, replay of a journal area)
 * lies in {@code journal.format}:
 *
 * <ul>
 *   <li>{@code ImageJournal}: one image's journal through its life (deferred to the first
 *       write, created, attached after replay, removed at a clean close), its commit timer
 *       ({@code CommitTimer}) and its status.
 *   <li>{@code JournalRecovery}: replay at open, and the consistent view tools read.
 *   <li>{@code JournalMetadataWriter}: metadata (and small guest writes) as transactions, the
 *       checkpoint; {@code DelayedCopies}, {@code JournalledData} and {@code DedupOp} hold what
 *       waits for the next transaction or checkpoint.
 *   <li>{@code DataStorage}: the image file as guest data sees it while bytes live in the
 *       journal.
 * </ul>
 */
package io.qjournal.qcow2.journal;
