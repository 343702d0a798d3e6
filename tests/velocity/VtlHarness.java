// Renders API Gateway mapping templates with Apache Velocity 1.7, the engine API Gateway runs,
// providing $input, $util and $context as the API Gateway mapping template reference documents
// them. tests/test_velocity_parity.py runs this once (one JVM) over every scenario and compares
// each output with the local renderer's (localcloud/mapping_templates.py).
//
// Usage: java -cp <jars> VtlHarness.java cases.jsonl > results.json
// cases.jsonl: one {"id", "kind": "request"|"response", "template", "body", "headers", "query",
//              "path", "context"} per line
// results.json: [{"id", "body", "status", "headers"} or {"id", "error"}, ...]

import com.jayway.jsonpath.Configuration;
import com.jayway.jsonpath.JsonPath;
import com.jayway.jsonpath.Option;
import java.io.StringWriter;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import net.minidev.json.JSONObject;
import net.minidev.json.JSONValue;
import net.minidev.json.parser.JSONParser;
import org.apache.commons.lang.StringEscapeUtils;
import org.apache.velocity.VelocityContext;
import org.apache.velocity.app.VelocityEngine;
import org.apache.velocity.app.event.EventCartridge;
import org.apache.velocity.app.event.ReferenceInsertionEventHandler;
import org.apache.velocity.runtime.RuntimeConstants;

public class VtlHarness {

    // Jayway JsonPath as API Gateway uses it; a path that matches nothing gives null.
    static final Configuration JSON_PATH =
            Configuration.defaultConfiguration().addOptions(Option.SUPPRESS_EXCEPTIONS);

    static Object parseStrict(String text) throws Exception {
        return new JSONParser(JSONParser.MODE_RFC4627).parse(text);
    }

    /** $input: the payload (request body or integration answer) and the request parameters. */
    public static class Input {
        private final String body;
        private final Map<String, Object> params;
        private Object document;
        private boolean parsed;

        Input(String body, Map<String, Object> params) {
            this.body = body;
            this.params = params;
        }

        public String getBody() {
            return body;
        }

        private Object document() {
            if (!parsed) {
                parsed = true;
                if (body.trim().isEmpty()) {
                    document = new JSONObject();
                } else {
                    try {
                        document = parseStrict(body);
                    } catch (Exception notJson) {
                        document = body; // not JSON: the whole payload is one string
                    }
                }
            }
            return document;
        }

        public Object path(String expression) {
            Object doc = document();
            if (doc instanceof String) {
                return expression.trim().equals("$") ? doc : null;
            }
            return JsonPath.using(JSON_PATH).parse(doc).read(expression);
        }

        public String json(String expression) {
            Object value = path(expression);
            return value == null ? null : JSONValue.toJSONString(value);
        }

        public Map<String, Object> params() {
            return params;
        }

        @SuppressWarnings("unchecked")
        public Object params(String name) {
            for (String kind : new String[] {"path", "querystring", "header"}) {
                Map<String, Object> values = (Map<String, Object>) params.get(kind);
                if (values.containsKey(name)) {
                    return values.get(name);
                }
            }
            return "";
        }
    }

    /** $util, as the mapping template reference lists it. */
    public static class Util {
        public String escapeJavaScript(String text) {
            return StringEscapeUtils.escapeJavaScript(text);
        }

        public Object parseJson(String text) throws Exception {
            return parseStrict(text);
        }

        public String urlEncode(String text) throws Exception {
            return URLEncoder.encode(text, "UTF-8");
        }

        public String urlDecode(String text) throws Exception {
            return URLDecoder.decode(text, "UTF-8");
        }

        public String base64Encode(String text) {
            return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
        }

        public String base64Decode(String text) {
            return new String(Base64.getDecoder().decode(text), StandardCharsets.UTF_8);
        }
    }

    /** Deep copy of parsed JSON into ordered Java maps and lists (what $context holds). */
    @SuppressWarnings("unchecked")
    static Object plain(Object value) {
        if (value instanceof Map) {
            Map<String, Object> copy = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : ((Map<String, Object>) value).entrySet()) {
                copy.put(e.getKey(), plain(e.getValue()));
            }
            return copy;
        }
        if (value instanceof List) {
            List<Object> copy = new ArrayList<>();
            for (Object item : (List<Object>) value) {
                copy.add(plain(item));
            }
            return copy;
        }
        return value;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> render(VelocityEngine engine, Map<String, Object> scenario) {
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("id", scenario.get("id"));
        boolean response = "response".equals(scenario.get("kind"));
        Map<String, Object> context = (Map<String, Object>) plain(scenario.get("context"));
        Map<String, Object> override = new LinkedHashMap<>();
        override.put("header", new LinkedHashMap<String, Object>());
        if (response) {
            context.put("responseOverride", override);
        } else {
            Map<String, Object> requestOverride = new LinkedHashMap<>();
            requestOverride.put("header", new LinkedHashMap<String, Object>());
            requestOverride.put("querystring", new LinkedHashMap<String, Object>());
            requestOverride.put("path", new LinkedHashMap<String, Object>());
            context.put("requestOverride", requestOverride);
        }
        Map<String, Object> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        headers.putAll((Map<String, Object>) scenario.get("headers"));
        Map<String, Object> params = new LinkedHashMap<>();
        params.put("path", plain(scenario.get("path")));
        params.put("querystring", plain(scenario.get("query")));
        params.put("header", headers);

        VelocityContext velocity = new VelocityContext();
        velocity.put("input", new Input((String) scenario.get("body"), params));
        velocity.put("util", new Util());
        velocity.put("context", context);
        velocity.put("stageVariables", new LinkedHashMap<String, Object>());
        // API Gateway renders a null reference as nothing (Velocity alone prints its name).
        EventCartridge events = new EventCartridge();
        events.addEventHandler(
                (ReferenceInsertionEventHandler) (reference, value) -> value == null ? "" : value);
        events.attachToContext(velocity);

        StringWriter out = new StringWriter();
        try {
            engine.evaluate(velocity, out, "template", (String) scenario.get("template"));
        } catch (Exception error) {
            result.put("error", error.getClass().getSimpleName());
            return result;
        }
        result.put("body", out.toString());
        if (response) {
            Object status = override.get("status");
            result.put("status", status == null ? null : status.toString());
            Map<String, Object> overrideHeaders = new LinkedHashMap<>();
            Object declared = override.get("header");
            if (declared instanceof Map) {
                for (Map.Entry<String, Object> e : ((Map<String, Object>) declared).entrySet()) {
                    if (e.getValue() != null) {
                        overrideHeaders.put(e.getKey(), e.getValue().toString());
                    }
                }
            }
            result.put("headers", overrideHeaders);
        }
        return result;
    }

    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws Exception {
        VelocityEngine engine = new VelocityEngine();
        engine.setProperty(
                RuntimeConstants.RUNTIME_LOG_LOGSYSTEM_CLASS,
                "org.apache.velocity.runtime.log.NullLogChute");
        engine.init();
        // One scenario per line: each line gets a fresh parser (json-smart's depth guard
        // counts across one parse).
        List<Object> results = new ArrayList<>();
        for (String line : Files.readAllLines(Paths.get(args[0]), StandardCharsets.UTF_8)) {
            if (!line.isEmpty()) {
                results.add(render(engine, (Map<String, Object>) parseStrict(line)));
            }
        }
        // ASCII-only output (json-smart escapes nothing above 0x7F by itself).
        String json = JSONValue.toJSONString(results);
        StringBuilder ascii = new StringBuilder(json.length());
        for (char c : json.toCharArray()) {
            if (c > 0x7E) {
                ascii.append(String.format("\\u%04x", (int) c));
            } else {
                ascii.append(c);
            }
        }
        System.out.print(ascii);
    }
}
