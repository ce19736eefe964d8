/**
 * The journal's on-disk format (docs/format/journal.md): the header, the ring of blocks,
 * descriptors and their codec, transactions, the scan and replay of a journal area, and the
 * dump. Knows nothing of qcow2 beyond the byte ranges it is told to write.
 */
package io.qjournal.qcow2.journal.format;
