package io.qjournal.cli;

/** The --output=human|json switch shared by info, check and map. */
final class Output {
    private Output() {
    }

    static boolean isJson(String output) {
        if ("json".equals(output)) {
            return true;
        }
        if ("human".equals(output)) {
            return false;
        }
        throw new CliException("--output must be used with human or json as argument.");
    }
}
