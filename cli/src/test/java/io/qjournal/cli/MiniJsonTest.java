package io.qjournal.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MiniJsonTest {
    @Test
    void roundTripsOurPrettyPrinter() {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("a", 1L);
        m.put("b \"q\"", List.of(true, false, "x\ny", Map.of()));
        m.put("c", Map.of("d", -5L));
        assertEquals(m, MiniJson.parse(Json.pretty(m)));
    }
}
