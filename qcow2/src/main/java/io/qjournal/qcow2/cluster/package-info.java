/**
 * An open image's state and its guest data path, the counterpart of QEMU's qcow2-cluster.c:
 *
 * <ul>
 *   <li>{@code ImageState}: what every part works on (file, cluster map, refcounts, header,
 *       live journal, write-back, data writes outside the lock, overlap guard, fail-stop);
 *       built at open, handed to the parts, none of which calls back into the facade.
 *   <li>{@code ClusterReader}: reads through L1/L2, the backing file, compressed clusters.
 *   <li>{@code ClusterWriter}: the write loop over runs and single clusters, allocation and
 *       copy-on-write; {@code ClusterAllocator} (writable L2 tables, release of old clusters,
 *       preallocation), {@code GuestData} (in place, journalled or after the lock) and
 *       {@code DelayedCopyOnWrite} (copies through the journal) beside it.
 *   <li>{@code ZeroesAndDiscard}, {@code CompressedWrites} and {@code ClusterStatus}: built on
 *       the writer and the allocator.
 *   <li>{@code DeferredDataWrites}: guest data written after the image lock is released, which
 *       metadata must wait for.
 * </ul>
 *
 * <p>Not exported: the facade's lock guards everything here.
 */
package io.qjournal.qcow2.cluster;
