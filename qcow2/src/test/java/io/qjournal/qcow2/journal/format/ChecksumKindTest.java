package io.qjournal.qcow2.journal.format;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ChecksumKindTest {
    @Test
    void crc32cCheckValue() {
        byte[] b = "123456789".getBytes(StandardCharsets.US_ASCII);
        ChecksumKind.Accumulator acc = ChecksumKind.CRC32C.start();
        acc.update(b, 0, b.length);
        assertEquals(0xE3069283, acc.value());
    }

    @Test
    void draftSumIsOnesComplementOfByteSum() {
        byte[] b = {1, 2, (byte) 0xFF};
        ChecksumKind.Accumulator acc = ChecksumKind.DRAFT_SUM.start();
        acc.update(b, 0, 3);
        assertEquals(~(1 + 2 + 255), acc.value());
        assertEquals(0xFFFFFFFF, ChecksumKind.DRAFT_SUM.start().value());
    }

    @Test
    void zerosFeedLikeZeroBytes() {
        for (ChecksumKind k : ChecksumKind.values()) {
            byte[] b = JournalFixture.pattern(7, 100);
            byte[] padded = new byte[100 + 70000];
            System.arraycopy(b, 0, padded, 0, 100);
            ChecksumKind.Accumulator a1 = k.start();
            a1.update(padded, 0, padded.length);
            ChecksumKind.Accumulator a2 = k.start();
            a2.update(b, 0, 100);
            a2.updateZeros(70000);
            assertEquals(a1.value(), a2.value(), k.name());
        }
    }
}
