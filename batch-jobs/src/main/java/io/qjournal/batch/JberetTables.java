package io.qjournal.batch;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * Direct reads and the two writes qjournal makes to JBeret's JOB_EXECUTION table. JBeret's
 * own operator only sees executions of its JVM as running; another process (a `stop` from a
 * shell, a crashed sweep) is told apart here.
 */
public final class JberetTables {
    private JberetTables() {
    }

    /** The stored batch status, or null for an unknown execution. */
    public static String status(Connection c, long executionId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT BATCHSTATUS FROM JOB_EXECUTION WHERE JOBEXECUTIONID = ?")) {
            ps.setLong(1, executionId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    /** The execution's batch status; an IllegalArgumentException naming it when there is none. */
    public static String requireStatus(Connection c, long executionId) throws SQLException {
        String status = status(c, executionId);
        if (status == null) {
            throw new IllegalArgumentException("no execution " + executionId + " in the job repository");
        }
        return status;
    }

    /** Moves an execution from one status to another; false when it was no longer in {@code from}. */
    public static boolean setStatus(Connection c, long executionId, String from, String to) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE JOB_EXECUTION SET BATCHSTATUS = ? WHERE JOBEXECUTIONID = ? AND BATCHSTATUS = ?")) {
            ps.setString(1, to);
            ps.setLong(2, executionId);
            ps.setString(3, from);
            return ps.executeUpdate() == 1;
        }
    }

    /** What JBeret stored about an execution. Times may be null (not started or not ended). */
    public record Execution(long id, long instanceId, String job, String status, String exitStatus,
            java.sql.Timestamp created, java.sql.Timestamp started, java.sql.Timestamp ended) {
    }

    private static final String SELECT = "SELECT e.JOBEXECUTIONID, e.JOBINSTANCEID, i.JOBNAME, e.BATCHSTATUS,"
            + " e.EXITSTATUS, e.CREATETIME, e.STARTTIME, e.ENDTIME FROM JOB_EXECUTION e"
            + " JOIN JOB_INSTANCE i ON i.JOBINSTANCEID = e.JOBINSTANCEID";

    public static Execution execution(Connection c, long executionId) throws SQLException {
        java.util.List<Execution> l = query(c, SELECT + " WHERE e.JOBEXECUTIONID = ?", executionId);
        return l.isEmpty() ? null : l.get(0);
    }

    /** All executions, oldest first. */
    public static java.util.List<Execution> executions(Connection c) throws SQLException {
        return query(c, SELECT + " ORDER BY e.JOBEXECUTIONID");
    }

    private static java.util.List<Execution> query(Connection c, String sql, Object... args) throws SQLException {
        java.util.List<Execution> out = new java.util.ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Execution(rs.getLong(1), rs.getLong(2), rs.getString(3), rs.getString(4),
                            rs.getString(5), rs.getTimestamp(6), rs.getTimestamp(7), rs.getTimestamp(8)));
                }
            }
        }
        return out;
    }

    /** Steps of an execution: name, status, exit status, and its partitions counted by status. */
    public static java.util.List<String[]> steps(Connection c, long executionId) throws SQLException {
        java.util.List<String[]> out = new java.util.ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT s.STEPNAME, s.BATCHSTATUS, s.EXITSTATUS,"
                + " (SELECT COUNT(*) FROM PARTITION_EXECUTION p WHERE p.STEPEXECUTIONID = s.STEPEXECUTIONID),"
                + " (SELECT COUNT(*) FROM PARTITION_EXECUTION p WHERE p.STEPEXECUTIONID = s.STEPEXECUTIONID"
                + " AND p.BATCHSTATUS = 'COMPLETED')"
                + " FROM STEP_EXECUTION s WHERE s.JOBEXECUTIONID = ? ORDER BY s.STEPEXECUTIONID")) {
            ps.setLong(1, executionId);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new String[] {rs.getString(1), rs.getString(2), rs.getString(3),
                        Long.toString(rs.getLong(4)), Long.toString(rs.getLong(5))});
                }
            }
        }
        return out;
    }

    /** The JBeret tables exist once JBeret has run against the database. */
    public static boolean exist(Connection c) {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM JOB_EXECUTION")) {
            ps.executeQuery().close();
            return true;
        } catch (SQLException e) {
            return false;
        }
    }
}
