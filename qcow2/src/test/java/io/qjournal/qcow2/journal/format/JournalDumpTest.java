package io.qjournal.qcow2.journal.format;

import io.qjournal.qcow2.storage.MemoryStorage;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static io.qjournal.qcow2.journal.format.JournalFixture.JOFF;
import static io.qjournal.qcow2.journal.format.JournalFixture.META;
import static org.junit.jupiter.api.Assertions.assertEquals;

class JournalDumpTest {
    @Test
    void describesHeaderTransactionsAndChainEnd() throws IOException {
        MemoryStorage s = JournalFixture.image();
        Journal j = Journal.format(s, JOFF, 8 * 1024, 9, JournalHeader.FLAG_CRC32C, 41);
        byte[] hash = new byte[32];
        hash[0] = (byte) 0xAB;
        j.append(new TransactionBuilder().addWrite(META, new byte[600]).addCopy(META + 4096, META + 8192, 512));
        j.append(new TransactionBuilder().addRevoke(META, 4096).addDedupInsert(hash, 0x30000));
        j.markCommitted(41);
        List<String> lines = JournalDump.describe(s, JOFF, 8 * 1024);
        assertEquals(List.of(
                "journal: offset 0x10000, size 8192 bytes, block size 512 (order 9), 15 ring blocks",
                "flags: 0x1 (checksum CRC32C)",
                "synced index 0, synced seq 40, committed seq 41",
                "transaction seq 41 at block 1, 2 data blocks, committed",
                "  write 600 bytes to 0x100000 from block 2",
                "  copy 512 bytes from 0x102000 to 0x101000",
                "transaction seq 42 at block 4, 0 data blocks, uncommitted",
                "  revoke 4096 bytes at 0x100000",
                "  dedup-insert ab" + "00".repeat(31) + " -> 0x30000",
                "chain ends at block 5 (expected seq 43): block 5: no descriptor block magic"), lines);
    }
}
