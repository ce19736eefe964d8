package io.qjournal.daemon;

/** A bad flag, config line or image spec: printed as one line, exit status 2. */
public final class ConfigException extends Exception {
    public ConfigException(String message) {
        super(message);
    }
}
