// The Java app of the end-to-end TLS test (TestEndToEndTLS), built by the
// test with javac and jar --main-class Main. It listens on :8080 and serves
//
//   GET /healthz        200 "ok"
//   GET /fetch?url=URL  GETs URL with HttpsURLConnection and the JVM's
//                       default trust store (the image's CA bundle):
//                       200 "ok STATUS", or 502 with the exception
//
// SIGTERM runs the shutdown hook, which logs "SIGTERM: shutting down",
// stops the server and halts with status 0.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;

public final class Main {
    private static void reply(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
        ex.close();
    }

    private static String query(URI u, String name) {
        String q = u.getRawQuery();
        if (q == null) {
            return "";
        }
        for (String kv : q.split("&")) {
            int i = kv.indexOf('=');
            if (i > 0 && kv.substring(0, i).equals(name)) {
                return URLDecoder.decode(kv.substring(i + 1), StandardCharsets.UTF_8);
            }
        }
        return "";
    }

    private static void fetch(HttpExchange ex) throws IOException {
        String target = query(ex.getRequestURI(), "url");
        int status;
        try {
            HttpURLConnection c = (HttpURLConnection) URI.create(target).toURL().openConnection();
            c.setConnectTimeout(60000);
            c.setReadTimeout(60000);
            status = c.getResponseCode();
            try (InputStream in = status < 400 ? c.getInputStream() : c.getErrorStream()) {
                if (in != null) {
                    in.readAllBytes();
                }
            }
            c.disconnect();
        } catch (Exception e) {
            reply(ex, 502, e + "\n");
            return;
        }
        reply(ex, 200, "ok " + status + "\n");
    }

    public static void main(String[] args) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(8080), 0);
        server.createContext("/", ex -> {
            String p = ex.getRequestURI().getPath();
            if (!ex.getRequestMethod().equals("GET")) {
                reply(ex, 405, "Method Not Allowed\n");
            } else if (p.equals("/healthz")) {
                reply(ex, 200, "ok\n");
            } else if (p.equals("/fetch")) {
                fetch(ex);
            } else {
                reply(ex, 404, "404 page not found\n");
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("SIGTERM: shutting down");
            server.stop(0);
            System.out.flush();
            Runtime.getRuntime().halt(0);
        }, "shutdown"));
        System.out.println("tlsjava: listening on :" + server.getAddress().getPort());
        server.start();
    }
}
