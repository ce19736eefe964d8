/**
 * Engine-level interoperability tests against QEMU 7.2's qemu-img and qemu-io (failsafe, *IT).
 *
 * <ul>
 * <li>{@code ReadCompatIT}: QEMU-made images (all cluster sizes, refcount widths, compat levels,
 * lazy refcounts, preallocation, extended L2, zlib/zstd, backing chain, snapshots, bitmaps,
 * discards, 1 TiB sparse) read byte-identically; blockStatus agrees with qemu-img map.</li>
 * <li>{@code RandomWorkloadIT}: one seeded workload via qemu-io and via the engine; qemu-img
 * compare and check.</li>
 * <li>{@code AlternatingWritersIT}, {@code ResizeIT}, {@code CompressedWriteIT},
 * {@code BitmapIT}: both writers on one image, growth, our compressed clusters, stale bitmaps.</li>
 * <li>{@code CreateCompatIT}: images we create, as QEMU sees them and byte for byte.</li>
 * <li>{@code LockingIT}: our locks and QEMU's exclude each other.</li>
 * </ul>
 * Tools missing: skipped, unless QJOURNAL_REQUIRE_QEMU=1 (then failing). Seeds are in the
 * test names and failure messages.
 */
package io.qjournal.qcow2.interop;
