/**
 * The malformed-image catalog ({@code BadImageCatalog}, built from the hand-made
 * {@code BaseImage}) and the test that every row is either accepted cleanly or refused with one
 * Qcow2Exception line naming the file; {@code BadInputQemuIT} keeps the catalog honest against
 * QEMU.
 */
package io.qjournal.qcow2.badinput;
