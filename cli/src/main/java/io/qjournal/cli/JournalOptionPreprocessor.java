package io.qjournal.cli;

import java.util.Map;
import java.util.Stack;
import picocli.CommandLine.IParameterPreprocessor;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * `--journal` takes its settings only attached (`--journal=size=8M,...`): a bare `--journal`
 * must not swallow the FILE that follows it.
 */
public final class JournalOptionPreprocessor implements IParameterPreprocessor {
    @Override
    public boolean preprocess(Stack<String> args, CommandSpec spec, ArgSpec argSpec, Map<String, Object> info) {
        if ("=".equals(info.get("separator"))) {
            return false;
        }
        argSpec.setValue("");
        return true;
    }
}
