package io.qjournal.batch;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;

/**
 * qjournal's own tables beside JBeret's in the job repository: which host ran an execution,
 * and one row per image and job instance. The per-image rows are what makes a restart skip
 * finished images, and what a fleet queries with plain SQL (docs/batch.md).
 */
public final class ResultStore {
    static final String RUNS = "qjournal_batch_run";
    static final String IMAGES = "qjournal_batch_image";
    /** Images in progress, with live byte counts (rows of a crashed execution stay as its last state). */
    static final String ACTIVE = "qjournal_batch_active";

    private final BatchSettings settings;

    public ResultStore(BatchSettings settings) {
        this.settings = settings;
    }

    public Connection connect() throws SQLException {
        Properties p = new Properties();
        if (settings.user() != null) {
            p.setProperty("user", settings.user());
        }
        if (settings.password() != null) {
            p.setProperty("password", settings.password());
        }
        for (int attempt = 1;; attempt++) {
            try {
                return DriverManager.getConnection(settings.repositoryUrl(), p);
            } catch (SQLException e) {
                // H2's auto-server: the process serving the file may have just exited; the next
                // attempt opens the file itself or reaches the new server.
                if (attempt >= 20 || !settings.repositoryUrl().startsWith("jdbc:h2:") || !"90067".equals(e.getSQLState())) {
                    throw e;
                }
                try {
                    Thread.sleep(100);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    /** Creates the tables when missing; another host creating them at the same moment is fine. */
    public void createTables() throws SQLException {
        try (Connection c = connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS " + RUNS + " (execution_id BIGINT PRIMARY KEY, instance_id BIGINT NOT NULL,"
                    + " job_name VARCHAR(64) NOT NULL, host VARCHAR(255) NOT NULL, pid BIGINT NOT NULL,"
                    + " images_planned INT NOT NULL, reports_dir VARCHAR(4096) NOT NULL, started TIMESTAMP NOT NULL)");
            st.execute("CREATE TABLE IF NOT EXISTS " + IMAGES + " (instance_id BIGINT NOT NULL, execution_id BIGINT NOT NULL,"
                    + " job_name VARCHAR(64) NOT NULL, host VARCHAR(255) NOT NULL, image VARCHAR(4096) NOT NULL,"
                    + " result VARCHAR(16) NOT NULL, leaks BIGINT NOT NULL, corruptions BIGINT NOT NULL,"
                    + " check_errors BIGINT NOT NULL, dirty_journal BOOLEAN NOT NULL, replayed BOOLEAN NOT NULL,"
                    + " duration_ms BIGINT NOT NULL, size_before BIGINT NOT NULL, size_after BIGINT NOT NULL,"
                    + " bytes_scanned BIGINT NOT NULL, bytes_won BIGINT NOT NULL, message VARCHAR(2048),"
                    + " finished TIMESTAMP NOT NULL, PRIMARY KEY (instance_id, image))");
            st.execute("CREATE TABLE IF NOT EXISTS " + ACTIVE + " (execution_id BIGINT NOT NULL,"
                    + " image VARCHAR(4096) NOT NULL, host VARCHAR(255) NOT NULL, started TIMESTAMP NOT NULL,"
                    + " bytes_scanned BIGINT NOT NULL, bytes_won BIGINT NOT NULL, PRIMARY KEY (execution_id, image))");
            // Added after the first release: repositories made before it gain the column here.
            st.execute("ALTER TABLE " + RUNS + " ADD COLUMN IF NOT EXISTS images_todo INT");
        } catch (SQLException e) {
            if (!tablesExist()) {
                throw e;
            }
        }
    }

    private boolean tablesExist() {
        try (Connection c = connect(); Statement st = c.createStatement()) {
            st.executeQuery("SELECT COUNT(*) FROM " + RUNS).close();
            st.executeQuery("SELECT COUNT(*) FROM " + IMAGES).close();
            st.executeQuery("SELECT COUNT(*) FROM " + ACTIVE).close();
            return true;
        } catch (SQLException e) {
            return false;
        }
    }

    /**
     * Records an execution: {@code planned} images in the job's directories, of which
     * {@code todo} were not finished by an earlier execution of the same instance.
     */
    public void recordRun(Connection c, long executionId, long instanceId, String job, int planned, int todo,
            String reportsDir) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + RUNS
                + " (execution_id, instance_id, job_name, host, pid, images_planned, reports_dir, started, images_todo)"
                + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            ps.setLong(1, executionId);
            ps.setLong(2, instanceId);
            ps.setString(3, job);
            ps.setString(4, settings.host());
            ps.setLong(5, ProcessHandle.current().pid());
            ps.setInt(6, planned);
            ps.setString(7, reportsDir);
            ps.setTimestamp(8, new Timestamp(System.currentTimeMillis()));
            ps.setInt(9, todo);
            ps.executeUpdate();
        }
    }

    /**
     * Records a finished image and clears its in-progress row (when one was written), in one transaction: the record is
     * what makes a restart skip the image. A duplicate (an image run again after a crash that
     * came between its work and this record) keeps the first record; false then.
     */
    public boolean finish(Connection c, long instanceId, long executionId, String job, ImageRecord r,
            boolean clearInProgress) throws SQLException {
        boolean auto = c.getAutoCommit();
        c.setAutoCommit(false);
        try {
            boolean inserted;
            try {
                insertImage(c, instanceId, executionId, job, r);
                inserted = true;
            } catch (SQLException e) {
                // PostgreSQL aborts a transaction at its first failed statement.
                c.rollback();
                if (!isDone(c, instanceId, r.image())) {
                    throw e;
                }
                inserted = false;
            }
            if (clearInProgress) {
                end(c, executionId, r.image());
            }
            c.commit();
            return inserted;
        } catch (SQLException | RuntimeException e) {
            c.rollback();
            throw e;
        } finally {
            c.setAutoCommit(auto);
        }
    }

    /**
     * Records several finished images in one transaction ({@link #finish} semantics for each);
     * returns which were inserted. A duplicate among them (rare: a crash between an image's
     * work and its record) makes the batch fall back to one transaction per image.
     */
    boolean[] finishAll(Connection c, List<Recorder.Finished> batch) throws SQLException {
        boolean[] inserted = new boolean[batch.size()];
        boolean auto = c.getAutoCommit();
        c.setAutoCommit(false);
        try {
            for (Recorder.Finished f : batch) {
                insertImage(c, f.instanceId(), f.executionId(), f.job(), f.record());
            }
            for (Recorder.Finished f : batch) {
                if (f.clearInProgress()) {
                    end(c, f.executionId(), f.record().image());
                }
            }
            c.commit();
            java.util.Arrays.fill(inserted, true);
            return inserted;
        } catch (SQLException e) {
            c.rollback();
        } finally {
            c.setAutoCommit(auto);
        }
        for (int i = 0; i < batch.size(); i++) {
            Recorder.Finished f = batch.get(i);
            inserted[i] = finish(c, f.instanceId(), f.executionId(), f.job(), f.record(), f.clearInProgress());
        }
        return inserted;
    }

    private void insertImage(Connection c, long instanceId, long executionId, String job, ImageRecord r)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + IMAGES
                + " (instance_id, execution_id, job_name, host, image, result, leaks, corruptions, check_errors,"
                + " dirty_journal, replayed, duration_ms, size_before, size_after, bytes_scanned, bytes_won, message,"
                + " finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            int i = 1;
            ps.setLong(i++, instanceId);
            ps.setLong(i++, executionId);
            ps.setString(i++, job);
            ps.setString(i++, settings.host());
            ps.setString(i++, r.image());
            ps.setString(i++, r.result().label());
            ps.setLong(i++, r.leaks());
            ps.setLong(i++, r.corruptions());
            ps.setLong(i++, r.checkErrors());
            ps.setBoolean(i++, r.dirtyJournal());
            ps.setBoolean(i++, r.replayed());
            ps.setLong(i++, r.durationMs());
            ps.setLong(i++, r.sizeBefore());
            ps.setLong(i++, r.sizeAfter());
            ps.setLong(i++, r.bytesScanned());
            ps.setLong(i++, r.bytesWon());
            ps.setString(i++, r.message());
            ps.setTimestamp(i, new Timestamp(System.currentTimeMillis()));
            ps.executeUpdate();
        }
    }

    /** Whether the job instance has a record of the image. */
    public boolean isDone(Connection c, long instanceId, String image) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM " + IMAGES + " WHERE instance_id = ? AND image = ?")) {
            ps.setLong(1, instanceId);
            ps.setString(2, image);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    public Set<String> doneImages(Connection c, long instanceId) throws SQLException {
        Set<String> out = new HashSet<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT image FROM " + IMAGES + " WHERE instance_id = ?")) {
            ps.setLong(1, instanceId);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
        }
        return out;
    }

    /** Records of a job instance (all its executions), in the order they finished. */
    public List<StoredImage> images(Connection c, long instanceId) throws SQLException {
        List<StoredImage> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT image, result, leaks, corruptions, check_errors,"
                + " dirty_journal, replayed, duration_ms, size_before, size_after, bytes_scanned, bytes_won, message,"
                + " execution_id, host, finished FROM " + IMAGES + " WHERE instance_id = ? ORDER BY finished, image")) {
            ps.setLong(1, instanceId);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ImageRecord r = new ImageRecord(rs.getString(1), Finding.ofLabel(rs.getString(2)), rs.getLong(3),
                            rs.getLong(4), rs.getLong(5), rs.getBoolean(6), rs.getBoolean(7), rs.getLong(8),
                            rs.getLong(9), rs.getLong(10), rs.getLong(11), rs.getLong(12), rs.getString(13));
                    out.add(new StoredImage(r, rs.getLong(14), rs.getString(15), rs.getTimestamp(16)));
                }
            }
        }
        return out;
    }

    /**
     * {@code finished}: when the record was stored, a few milliseconds after the image's work
     * ended (its work began duration-ms before that).
     */
    public record StoredImage(ImageRecord record, long executionId, String host, Timestamp finished) {
    }

    /** An execution as qjournal recorded it (JBeret's tables hold its status). */
    /** {@code todo} is null for executions recorded before the column existed. */
    public record Run(long executionId, long instanceId, String job, String host, long pid, int planned,
            String reportsDir, Timestamp started, Integer todo) {
    }

    public Run run(Connection c, long executionId) throws SQLException {
        List<Run> r = runs(c, "execution_id = ?", executionId);
        return r.isEmpty() ? null : r.get(0);
    }

    public List<Run> runs(Connection c, String job, String host) throws SQLException {
        StringBuilder where = new StringBuilder("1 = 1");
        List<Object> args = new ArrayList<>();
        if (job != null) {
            where.append(" AND job_name = ?");
            args.add(job);
        }
        if (host != null) {
            where.append(" AND host = ?");
            args.add(host);
        }
        return runs(c, where.toString(), args.toArray());
    }

    private List<Run> runs(Connection c, String where, Object... args) throws SQLException {
        List<Run> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT execution_id, instance_id, job_name, host, pid,"
                + " images_planned, reports_dir, started, images_todo FROM " + RUNS + " WHERE " + where + " ORDER BY execution_id")) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Run(rs.getLong(1), rs.getLong(2), rs.getString(3), rs.getString(4), rs.getLong(5),
                            rs.getInt(6), rs.getString(7), rs.getTimestamp(8), (Integer) rs.getObject(9)));
                }
            }
        }
        return out;
    }

    public void updatePlanned(Connection c, long executionId, int planned) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + RUNS + " SET images_planned = ? WHERE execution_id = ?")) {
            ps.setInt(1, planned);
            ps.setLong(2, executionId);
            ps.executeUpdate();
        }
    }

    /** An image in progress: its live counters. */
    public record Active(String image, Timestamp started, long bytesScanned, long bytesWon) {
    }

    public void begin(Connection c, long executionId, String image) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + ACTIVE
                + " (execution_id, image, host, started, bytes_scanned, bytes_won) VALUES (?, ?, ?, ?, 0, 0)")) {
            ps.setLong(1, executionId);
            ps.setString(2, image);
            ps.setString(3, settings.host());
            ps.setTimestamp(4, new Timestamp(System.currentTimeMillis()));
            ps.executeUpdate();
        }
    }

    public void progress(Connection c, long executionId, String image, long scanned, long won) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + ACTIVE
                + " SET bytes_scanned = ?, bytes_won = ? WHERE execution_id = ? AND image = ?")) {
            ps.setLong(1, scanned);
            ps.setLong(2, won);
            ps.setLong(3, executionId);
            ps.setString(4, image);
            ps.executeUpdate();
        }
    }

    public void end(Connection c, long executionId, String image) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + ACTIVE + " WHERE execution_id = ? AND image = ?")) {
            ps.setLong(1, executionId);
            ps.setString(2, image);
            ps.executeUpdate();
        }
    }

    public List<Active> active(Connection c, long executionId) throws SQLException {
        List<Active> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT image, started, bytes_scanned, bytes_won FROM " + ACTIVE
                + " WHERE execution_id = ? ORDER BY started, image")) {
            ps.setLong(1, executionId);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Active(rs.getString(1), rs.getTimestamp(2), rs.getLong(3), rs.getLong(4)));
                }
            }
        }
        return out;
    }
}
