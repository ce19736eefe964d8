package io.qjournal.cli.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.qjournal.qcow2.testsupport.QemuTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fleet: two "hosts" (processes with different QJOURNAL_HOST) sweep their own directories
 * into one real PostgreSQL job repository; both histories are listed, per host and together,
 * and the documented SQL over qjournal's tables sees every host's images.
 */
class BatchPostgresIT {
    @TempDir
    Path tmp;

    @Test
    void twoHostsShareOnePostgresRepository() throws Exception {
        QemuTools.assumeAvailable("qemu-io");
        Path a = Files.createDirectories(tmp.resolve("alpha"));
        Path b = Files.createDirectories(tmp.resolve("beta"));
        BatchTools.clean(a.resolve("a0.qcow2"), 1);
        BatchTools.leak(a.resolve("a1.qcow2"), 2);
        BatchTools.corrupt(a.resolve("a2.qcow2"), 3);
        BatchTools.clean(b.resolve("b0.qcow2"), 4);
        BatchTools.leak(b.resolve("b1.qcow2"), 5);
        try (PgServer pg = PgServer.start()) {
            Map<String, String> alpha = Map.of("QJOURNAL_HOST", "alpha", "QJOURNAL_BATCH_STATE",
                    tmp.resolve("state-alpha").toString());
            Map<String, String> beta = Map.of("QJOURNAL_HOST", "beta", "QJOURNAL_BATCH_STATE",
                    tmp.resolve("state-beta").toString());
            String repo = "--repository=" + pg.url();
            // The first sweep creates the schema; then both hosts sweep at the same time.
            BatchTools.Run first = BatchTools.qj(alpha, "batch", "start", "integrity-sweep", "-p", "dirs=" + a, "--wait",
                    repo);
            assertEquals(2, first.exitCode(), first.stdout() + first.stderr());
            CompletableFuture<BatchTools.Run> fa = CompletableFuture.supplyAsync(() -> BatchTools.qj(alpha, "batch",
                    "start", "integrity-sweep", "-p", "dirs=" + a, "--wait", repo));
            CompletableFuture<BatchTools.Run> fb = CompletableFuture.supplyAsync(() -> BatchTools.qj(beta, "batch",
                    "start", "integrity-sweep", "-p", "dirs=" + b, "--wait", repo));
            BatchTools.Run ra = fa.join();
            BatchTools.Run rb = fb.join();
            assertEquals(2, ra.exitCode(), ra.stdout() + ra.stderr());
            assertEquals(3, rb.exitCode(), rb.stdout() + rb.stderr());

            String all = BatchTools.ok(beta, "batch", "list", repo).stdout();
            String onlyAlpha = BatchTools.ok(beta, "batch", "list", "--host", "alpha", repo).stdout();
            String onlyBeta = BatchTools.ok(alpha, "batch", "list", "integrity-sweep", "--host", "beta", repo).stdout();
            assertEquals(4, all.lines().count(), all);
            assertTrue(all.contains(" alpha ") && all.contains(" beta "), all);
            assertEquals(3, onlyAlpha.lines().count(), onlyAlpha);
            assertFalse(onlyAlpha.contains(" beta "), onlyAlpha);
            assertEquals(2, onlyBeta.lines().count(), onlyBeta);
            assertTrue(onlyBeta.contains(" " + rb.execution() + " ") || onlyBeta.startsWith("EXECUTION"), onlyBeta);
            // The repository can come from the environment (or the config file) as well.
            Map<String, String> viaEnv = Map.of("QJOURNAL_BATCH_REPOSITORY", pg.url(), "QJOURNAL_BATCH_STATE",
                    tmp.resolve("state-gamma").toString());
            Map<String, Map<String, String>> reportB = BatchTools.report(viaEnv, rb.execution());
            assertEquals(2, reportB.size());
            for (Map<String, String> m : reportB.values()) {
                assertEquals("beta", m.get("host"));
            }

            // The SQL docs/batch.md gives operators: latest result per host and image.
            Map<String, Integer> perHost = new TreeMap<>();
            try (Connection c = DriverManager.getConnection(pg.url()); Statement st = c.createStatement();
                    ResultSet rs = st.executeQuery("SELECT host, COUNT(*) FROM qjournal_batch_image i"
                            + " JOIN JOB_EXECUTION e ON e.JOBEXECUTIONID = i.execution_id"
                            + " WHERE e.BATCHSTATUS = 'COMPLETED' GROUP BY host ORDER BY host")) {
                while (rs.next()) {
                    perHost.put(rs.getString(1), rs.getInt(2));
                }
            }
            assertEquals(Map.of("alpha", 6, "beta", 2), perHost);
            java.util.List<String> notClean = new java.util.ArrayList<>();
            try (Connection c = DriverManager.getConnection(pg.url()); Statement st = c.createStatement();
                    ResultSet rs = st.executeQuery("SELECT * FROM ("
                            + " SELECT DISTINCT ON (host, image) host, image, result, leaks, corruptions, finished"
                            + " FROM qjournal_batch_image WHERE job_name = 'integrity-sweep'"
                            + " ORDER BY host, image, finished DESC) latest"
                            + " WHERE result <> 'CLEAN' ORDER BY host, image")) {
                while (rs.next()) {
                    notClean.add(rs.getString(1) + " " + Path.of(rs.getString(2)).getFileName() + " " + rs.getString(3));
                }
            }
            assertEquals(java.util.List.of("alpha a1.qcow2 LEAKS", "alpha a2.qcow2 CORRUPT", "beta b1.qcow2 LEAKS"),
                    notClean);
        }
    }
}
