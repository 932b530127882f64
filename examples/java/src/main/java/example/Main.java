// The Java bootapp example: an HTTP server that counts requests in a file on
// the data volume, so that persistence across boot-disk replacements is
// visible. It follows the contract of examples/hello:
//
//   GET /        increments the counter and returns it ("count: N")
//   GET /healthz returns 200 "ok" without touching the counter
//
// It listens on $PORT (default 8080). The counter lives in $DATA_DIR/count
// (default /data/count). Every update is written to a temporary file,
// forced to the disk and atomically moved over the old one, and the
// directory is forced too, so a power cut never loses an acknowledged count.
// SIGTERM (and SIGINT) stop the server and exit 0.
//
// Java 17, the JDK only (java.base and jdk.httpserver); examples/java/build.sh
// builds app.jar with javac and jar.
package example;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

public final class Main {
    /** A crash-safe integer persisted in one file. */
    static final class Counter {
        final Path path;
        private final Path tmp;

        Counter(Path path) {
            this.path = path;
            this.tmp = path.resolveSibling(path.getFileName() + ".tmp");
        }

        private int read() throws IOException {
            String s;
            try {
                s = Files.readString(path, StandardCharsets.UTF_8).strip();
            } catch (NoSuchFileException e) {
                return 0;
            }
            try {
                return Integer.parseInt(s);
            } catch (NumberFormatException e) {
                throw new IOException("parse " + path + ": \"" + s + "\" is not a count");
            }
        }

        /** Adds one to the counter and returns the new value once it is on stable storage. */
        synchronized int increment() throws IOException {
            int n = read() + 1;
            ByteBuffer b = ByteBuffer.wrap((n + "\n").getBytes(StandardCharsets.UTF_8));
            try (FileChannel f = FileChannel.open(tmp, StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                while (b.hasRemaining()) {
                    f.write(b);
                }
                f.force(true);
            }
            Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE);
            // The rename is durable once the directory is: on Linux a
            // directory opens for reading and force is its fsync.
            try (FileChannel d = FileChannel.open(path.getParent(), StandardOpenOption.READ)) {
                d.force(true);
            }
            return n;
        }
    }

    /** Requests being handled, so that a shutdown knows whether to wait. */
    private static final AtomicInteger inFlight = new AtomicInteger();

    private static void reply(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(status, head ? -1 : b.length);
        if (!head) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(b);
            }
        }
        ex.close();
    }

    /** Serves the exact path of the route (a context also matches longer paths), GET and HEAD only. */
    private static HttpHandler route(String path, HttpHandler h) {
        return ex -> {
            inFlight.incrementAndGet();
            try {
                URI u = ex.getRequestURI();
                if (!u.getPath().equals(path)) {
                    reply(ex, 404, "404 page not found\n");
                } else if (!ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD")) {
                    ex.getResponseHeaders().set("Allow", "GET, HEAD");
                    reply(ex, 405, "Method Not Allowed\n");
                } else {
                    h.handle(ex);
                }
            } finally {
                inFlight.decrementAndGet();
            }
        };
    }

    private static String env(String name, String def) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? def : v;
    }

    public static void main(String[] args) throws IOException {
        String portVar = env("PORT", "8080");
        int port;
        try {
            port = Integer.parseInt(portVar);
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < 1 || port > 65535) {
            System.err.println("PORT=" + portVar + ": not a port number (1 to 65535)");
            System.exit(2);
        }
        Counter counter = new Counter(Path.of(env("DATA_DIR", "/data"), "count").toAbsolutePath());

        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/healthz", route("/healthz", ex -> reply(ex, 200, "ok\n")));
        server.createContext("/", route("/", ex -> {
            int n;
            try {
                n = counter.increment();
            } catch (IOException e) {
                System.err.println("increment: " + e);
                reply(ex, 500, "cannot persist counter: " + e + "\n");
                return;
            }
            reply(ex, 200, "count: " + n + "\n");
        }));
        ExecutorService pool = Executors.newFixedThreadPool(8);
        server.setExecutor(pool);

        // SIGTERM runs the shutdown hooks and then exits with status 143
        // (128 + 15); the hook halts with 0 instead once the server has
        // stopped, so the init sees a clean exit. This is the only hook.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("shutting down");
            try {
                // HttpServer.stop(delay) closes the listener and waits up
                // to delay seconds for exchanges in progress, as
                // examples/hello gives them 5 s; on Java 17 it always
                // waits the whole delay when none is in progress (later
                // JDKs return at once), hence the 0.
                server.stop(inFlight.get() == 0 ? 0 : 5);
                pool.shutdown();
                pool.awaitTermination(5, TimeUnit.SECONDS);
                System.out.println("stopped");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                System.out.flush();
                Runtime.getRuntime().halt(0);
            }
        }, "shutdown"));

        // HttpServer.create has bound the port: the line is true before
        // the first request is served.
        System.out.println("java example: listening on :" + server.getAddress().getPort()
                + ", counter in " + counter.path);
        server.start();
    }
}
