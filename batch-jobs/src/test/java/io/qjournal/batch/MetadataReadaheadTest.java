package io.qjournal.batch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.qjournal.qcow2.CreateOptions;
import io.qjournal.qcow2.OpenOptions;
import io.qjournal.qcow2.Qcow2Image;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The readahead only reads: images, garbage and damaged headers stay byte-identical and it
 * throws nothing; the partitions still get every image once, in order.
 */
class MetadataReadaheadTest {
    @TempDir
    Path dir;

    @Test
    void readsAnythingWithoutChangingIt() throws Exception {
        List<Path> files = new ArrayList<>();
        Path img = dir.resolve("good.qcow2");
        Qcow2Image.create(img, new CreateOptions().size(64L << 20));
        try (Qcow2Image q = Qcow2Image.open(img, OpenOptions.readWrite())) {
            q.write(3L << 20, new byte[70000], 0, 70000);
        }
        files.add(img);
        byte[] noise = new byte[300_000];
        new Random(7).nextBytes(noise);
        Path garbage = dir.resolve("garbage.qcow2");
        Files.write(garbage, noise);
        files.add(garbage);
        Path damaged = dir.resolve("damaged.qcow2");
        byte[] header = Files.readAllBytes(img);
        ByteBuffer.wrap(header).putInt(20, 64).putLong(40, Long.MIN_VALUE).putInt(36, -1);
        Files.write(damaged, header);
        files.add(damaged);
        Path empty = Files.write(dir.resolve("empty.qcow2"), new byte[0]);
        files.add(empty);
        files.add(dir.resolve("missing.qcow2"));
        List<byte[]> before = new ArrayList<>();
        for (Path f : files) {
            before.add(Files.exists(f) ? Files.readAllBytes(f) : null);
        }
        for (Path f : files) {
            MetadataReadahead.read(f);
        }
        for (int i = 0; i < files.size(); i++) {
            if (before.get(i) != null) {
                assertArrayEquals(before.get(i), Files.readAllBytes(files.get(i)), files.get(i).toString());
            }
        }
    }

    @Test
    void partitionsTakeEveryImageOnceWhileItReadsAhead() {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            names.add(dir.resolve("none" + i + ".qcow2").toString());
        }
        ImageQueue.publish(-7, names);
        List<String> taken = new ArrayList<>();
        String s;
        while ((s = ImageQueue.next(-7)) != null) {
            taken.add(s);
        }
        assertEquals(names, taken);
        ImageQueue.drop(-7);
        assertNull(ImageQueue.next(-7));
    }
}
