package io.qjournal.cli.batch;

import io.qjournal.batch.QBatch;
import jakarta.batch.operations.BatchRuntimeException;

/** JBeret's exceptions carry long messages with codes; operators get one line. */
final class Errors {
    private Errors() {
    }

    interface Action {
        void run();
    }

    static void batch(Action a) {
        try {
            a.run();
        } catch (BatchRuntimeException e) {
            throw new IllegalArgumentException(describe(e), e);
        }
    }

    static long call(java.util.function.LongSupplier a) {
        try {
            return a.getAsLong();
        } catch (BatchRuntimeException e) {
            throw new IllegalArgumentException(describe(e), e);
        }
    }

    static String describe(BatchRuntimeException e) {
        String kind = e.getClass().getSimpleName().replaceAll("([a-z])([A-Z])", "$1 $2").toLowerCase()
                .replace(" exception", "");
        String m = e.getMessage() == null ? "" : QBatch.oneLine(e).replaceAll("^JBERET\\d+: ", "");
        return m.isEmpty() ? kind : kind + ": " + m;
    }
}
