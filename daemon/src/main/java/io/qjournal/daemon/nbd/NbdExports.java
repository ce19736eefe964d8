package io.qjournal.daemon.nbd;

import java.util.Collection;

/** The exports a server offers; the set may change while it runs (images opened, closed). */
public interface NbdExports {
    /** The export with this name, or null. The empty name selects the default export, if any. */
    NbdExport find(String name);

    /** Every export, for NBD_OPT_LIST. */
    Collection<NbdExport> list();
}
