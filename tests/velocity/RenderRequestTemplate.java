// Renders an API Gateway request template with Apache Velocity 1.7 (what API Gateway runs) and
// Commons Lang 2's escapeJavaScript (what $util.escapeJavaScript is), for the parity tests in
// tests/test_velocity_parity.py. Usage: RenderRequestTemplate TEMPLATE CASE.properties...
// Each case holds body, userAgent, sourceIp, requestId, extendedRequestId, contentType and
// pathId; the outputs are separated by a NUL character.
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import org.apache.velocity.VelocityContext;
import org.apache.velocity.app.VelocityEngine;

public class RenderRequestTemplate {
  public static class Util {
    public String escapeJavaScript(String text) {
      return text == null ? null : org.apache.commons.lang.StringEscapeUtils.escapeJavaScript(text);
    }
  }

  public static class Input {
    private final String body;
    private final Map<String, String> params;

    Input(String body, Map<String, String> params) {
      this.body = body;
      this.params = params;
    }

    public String getBody() { return body; }

    public String params(String name) {
      String value = params.get(name);
      return value == null ? "" : value;
    }
  }

  public static void main(String[] args) throws Exception {
    String template = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8);
    VelocityEngine engine = new VelocityEngine();
    engine.init();
    PrintStream out = new PrintStream(System.out, true, "UTF-8");
    for (int i = 1; i < args.length; i++) {
      Properties p = new Properties();
      try (Reader r = new InputStreamReader(new FileInputStream(args[i]), StandardCharsets.UTF_8)) {
        p.load(r);
      }
      Map<String, Object> identity = new HashMap<>();
      identity.put("userAgent", p.getProperty("userAgent"));
      identity.put("sourceIp", p.getProperty("sourceIp"));
      Map<String, Object> authorizer = new HashMap<>();
      authorizer.put("principalId", p.getProperty("requestId"));
      authorizer.put("jti", p.getProperty("requestId"));
      authorizer.put("exp", "1767323945");
      Map<String, Object> context = new HashMap<>();
      context.put("identity", identity);
      context.put("authorizer", authorizer);
      context.put("requestId", p.getProperty("requestId"));
      context.put("extendedRequestId", p.getProperty("extendedRequestId"));
      context.put("requestTimeEpoch", 1767323045678L);
      Map<String, String> params = new HashMap<>();
      params.put("Content-Type", p.getProperty("contentType"));
      params.put("id", p.getProperty("pathId"));
      VelocityContext velocity = new VelocityContext();
      velocity.put("context", context);
      velocity.put("util", new Util());
      velocity.put("input", new Input(p.getProperty("body"), params));
      StringWriter rendered = new StringWriter();
      engine.evaluate(velocity, rendered, "template", template);
      out.print(rendered);
      out.print('\0');
    }
  }
}
