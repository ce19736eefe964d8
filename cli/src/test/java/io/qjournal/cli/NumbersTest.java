package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class NumbersTest {
    @Test
    void parsesSizesWithSuffixes() {
        assertEquals(512, Numbers.parseSize("512"));
        assertEquals(512, Numbers.parseSize("512b"));
        assertEquals(4096, Numbers.parseSize("4k"));
        assertEquals(4096, Numbers.parseSize("4K"));
        assertEquals(1L << 20, Numbers.parseSize("1M"));
        assertEquals(1L << 20, Numbers.parseSize("1m"));
        assertEquals(3L << 30, Numbers.parseSize("3G"));
        assertEquals(2L << 40, Numbers.parseSize("2T"));
        assertEquals(1L << 50, Numbers.parseSize("1P"));
        assertEquals(1L << 60, Numbers.parseSize("1E"));
        assertEquals(1610612736L, Numbers.parseSize("1.5G"));
    }

    @Test
    void parsesHexAsQemuIoDoes() {
        assertEquals(0x10000, Numbers.parseSize("0x10000"));
        assertEquals(1024, Numbers.parseSize("0x1k"));
        assertEquals(0xb, Numbers.parseSize("0xb"));
        assertEquals(0xe, Numbers.parseSize("0xe"));
    }

    @Test
    void rejectsBadNumbers() {
        for (String bad : new String[] {"", "x", "1x", "-1", "1s", "k", "1.5", "0x", "0xg", "99999999999999999999", "16E"}) {
            assertThrows(IllegalArgumentException.class, () -> Numbers.parseSize(bad), bad);
        }
    }

    @Test
    void parsesPatterns() {
        assertEquals(0xa5, Numbers.parsePattern("0xa5"));
        assertEquals(17, Numbers.parsePattern("17"));
        assertEquals(8, Numbers.parsePattern("010"));
        assertEquals(0x34, Numbers.parsePattern("0x1234"));
        assertThrows(IllegalArgumentException.class, () -> Numbers.parsePattern("zz"));
    }

    @Test
    void formatsLikeQemuIo() {
        assertEquals("64 KiB", Numbers.cvtstr(65536));
        assertEquals("512 bytes", Numbers.cvtstr(512));
        assertEquals("3.938 MiB", Numbers.cvtstr(0x3f0000));
        assertEquals("1 bytes", Numbers.cvtstr(1));
        assertEquals("0 bytes", Numbers.cvtstr(0));
        assertEquals("00.00 sec", Numbers.timestr(1_000_000));
        assertEquals("00.50 sec", Numbers.timestr(500_000_000));
        assertEquals("0:01:01.25", Numbers.timestr(61_250_000_000L));
    }

    @Test
    void formatsSizesLikeQemuImg() {
        assertEquals("0 B", Numbers.sizeToStr(0));
        assertEquals("332 KiB", Numbers.sizeToStr(339968));
        assertEquals("10 MiB", Numbers.sizeToStr(10485760));
        assertEquals("1 GiB", Numbers.sizeToStr(1L << 30));
        assertEquals("1.5 GiB", Numbers.sizeToStr(1610612736L));
        assertEquals("16 KiB", Numbers.sizeToStr(16384));
        assertEquals("0.999 KiB", Numbers.sizeToStr(1023));
        assertEquals("999 B", Numbers.sizeToStr(999));
    }

    @Test
    void roundsTiesToEvenAsGlibc() {
        assertEquals("0.62", Numbers.fixed(100.0 / 160, 2));
        assertEquals("0.12", Numbers.fixed(0.125, 2));
        assertEquals("0.38", Numbers.fixed(0.375, 2));
        assertEquals("100.00", Numbers.fixed(100, 2));
        assertEquals("4.69", Numbers.fixed(300.0 / 64, 2));
    }
}
