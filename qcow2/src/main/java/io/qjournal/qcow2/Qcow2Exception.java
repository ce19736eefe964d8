package io.qjournal.qcow2;

import java.io.IOException;

/**
 * An image problem: malformed, unsupported or inconsistent. The message always starts with the
 * file's name, so a tool can print it as its one error line.
 */
public class Qcow2Exception extends IOException {
    public Qcow2Exception(String file, String problem) {
        super(file + ": " + problem);
    }

    public Qcow2Exception(String file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
