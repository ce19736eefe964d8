package io.qjournal.qcow2.meta;

/** One metadata update: these bytes at this host offset. */
public record MetaWrite(long offset, byte[] data) {
}
