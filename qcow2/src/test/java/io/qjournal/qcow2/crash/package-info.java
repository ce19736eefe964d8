/**
 * Crash-consistency tests of the journal.
 *
 * <ul>
 *   <li>{@link io.qjournal.qcow2.crash.JournalCrashConsistencyTest} (surefire): seven workloads
 *       run once each on a {@link io.qjournal.qcow2.testsupport.PowerLossStorage}; about 12,900
 *       power-loss states (every flush boundary plus random points, in-flight writes kept or
 *       dropped, one torn at 512 bytes) are replayed and checked: our checker clean, a sample
 *       through {@code qemu-img check}, the read-only (in-memory replay) and the replayed views
 *       of every guest byte explained by the {@link io.qjournal.qcow2.crash.GuestModel}.</li>
 *   <li>{@link io.qjournal.qcow2.crash.FailStopTest}: EIO/ENOSPC/short writes/failed flushes via
 *       {@link io.qjournal.qcow2.testsupport.FaultyStorage}.</li>
 *   <li>{@link io.qjournal.qcow2.crash.ProcessCrashIT} (failsafe): SIGKILL of a journalling
 *       child JVM on a real file; {@link io.qjournal.qcow2.crash.JournalQemuInterplayIT}: dirty
 *       and invalidated journals against QEMU.</li>
 * </ul>
 *
 * <p>Everything is seeded ({@code -Dqjournal.crash.seed}, default 20261125). A failing
 * power-loss state prints its id; rerun just that state with
 * {@code -Dtest=JournalCrashConsistencyTest#METHOD -Dqjournal.crash.only=WORKLOAD:POINT:VARIANT}
 * and add {@code -Dqjournal.crash.dump=DIR} to get its crashed and replayed images as files
 * for qemu-img/qemu-io; {@code -Dqjournal.crash.maxReported=N} lists more failures.
 */
package io.qjournal.qcow2.crash;
