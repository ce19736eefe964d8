package io.qjournal.cli;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Parses qemu-img "-o key=value,key2=value2" option lists (QemuOpts syntax: ",," is a literal
 * comma inside a value; a bare key means "on"). Later occurrences of a key win, as in QEMU.
 */
public final class OptionString {
    private OptionString() {
    }

    public static Map<String, String> parse(String s, Map<String, String> into) {
        Map<String, String> out = into == null ? new LinkedHashMap<>() : into;
        if (s == null || s.isEmpty()) {
            throw new IllegalArgumentException("Invalid option list: " + s);
        }
        int i = 0;
        int n = s.length();
        while (i < n) {
            StringBuilder key = new StringBuilder();
            while (i < n && s.charAt(i) != '=' && s.charAt(i) != ',') {
                key.append(s.charAt(i++));
            }
            String value = "on";
            if (i < n && s.charAt(i) == '=') {
                i++;
                StringBuilder v = new StringBuilder();
                while (i < n) {
                    char c = s.charAt(i);
                    if (c == ',') {
                        if (i + 1 < n && s.charAt(i + 1) == ',') {
                            v.append(',');
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    v.append(c);
                    i++;
                }
                value = v.toString();
            }
            if (key.length() == 0) {
                throw new IllegalArgumentException("Invalid option list: " + s);
            }
            out.put(key.toString(), value);
            if (i < n) {
                i++; // the separating comma
                if (i == n) {
                    throw new IllegalArgumentException("Invalid option list: " + s);
                }
            }
        }
        return out;
    }

    /** QEMU's boolean option values. */
    public static boolean parseBool(String key, String v) {
        switch (v) {
            case "on": case "yes": case "true": case "y":
                return true;
            case "off": case "no": case "false": case "n":
                return false;
            default:
                throw new IllegalArgumentException("Parameter '" + key + "' expects 'on' or 'off'");
        }
    }
}
