package io.qjournal.qcow2.testsupport;

/**
 * One materialised power-loss state of a {@link PowerLossStorage}.
 *
 * @param crashPoint the crash happened after this many recorded operations
 * @param durablePrefix operations covered by the last flush before the crash (all of them landed)
 * @param image the bytes the file holds after the crash
 * @param description which in-flight writes were kept, dropped or torn (for failure messages)
 */
public record CrashState(int crashPoint, int durablePrefix, byte[] image, String description) {
    @Override
    public String toString() {
        return "crash point " + crashPoint + " (durable up to op " + durablePrefix + "): " + description;
    }
}
