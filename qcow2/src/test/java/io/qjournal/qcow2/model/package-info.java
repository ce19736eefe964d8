/**
 * Random operation sequences against a byte-array model of the guest disk (memory and file
 * storage, backing files, extended L2, the journal, concurrent threads), finished by the
 * engine's own checker and, for files, qemu-img check.
 */
package io.qjournal.qcow2.model;
