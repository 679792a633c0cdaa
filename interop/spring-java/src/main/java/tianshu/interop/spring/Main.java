package tianshu.interop.spring;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.cloud.client.ServiceInstance;
import org.springframework.cloud.client.discovery.DiscoveryClient;
import org.springframework.cloud.client.loadbalancer.LoadBalanced;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Primary;
import org.springframework.context.event.EventListener;
import org.springframework.core.env.Environment;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.client.SimpleClientHttpRequestFactory;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.client.RestClient;
import org.springframework.web.servlet.mvc.method.annotation.ResponseBodyEmitter;
import org.springframework.web.servlet.mvc.method.annotation.StreamingResponseBody;

/**
 * The Spring Boot peer of interop/spring_test.go. Every argument after the mode is a Spring
 * Boot property ({@code --name=value}); the tests set the app name, the port, the Eureka and
 * Config Server URLs and short refresh intervals that way.
 *
 * <pre>
 * serve   an HTTP service registered in Eureka under spring.application.name, with its config
 *         imported from the Config Server (spring.config.import=configserver:URL). It prints
 *         "READY port uptime-ms" once it serves, and serves until SIGTERM, when Spring
 *         deregisters it from Eureka and drains. Endpoints:
 *           GET  /greet?name=N        {"message":"hello, N","servedBy":peer.id}
 *           GET  /config/KEY          {"key":KEY,"value":V}, or 404 when the key is unset
 *           GET  /call?service=S&count=C&interval-ms=I
 *                                    the call loop below, streamed as text lines, so that
 *                                    one JVM serves and calls in the same test run
 *           GET  /watch?service=S&interval-ms=I
 *                                    what Spring's own DiscoveryClient lists for S, read from
 *                                    its local copy of Eureka's registry every I ms (default
 *                                    50), streamed as a line "IDS id1,id2,..." (instance IDs,
 *                                    sorted; "IDS " when none) at once and on every change,
 *                                    and "TICK" after 5 s without one (how the peer learns
 *                                    that the client hung up); no LoadBalancer cache on
 *                                    the way, so a test sees when Spring's Eureka client
 *                                    itself learns of a change
 *           POST /actuator/refresh    re-reads the Config Server (Spring Cloud's endpoint)
 * call    no web server and no registration: calls GET http://SERVICE/greet through the
 *         &#64;LoadBalanced RestClient peer.count times, peer.interval-ms apart, with
 *         SERVICE = peer.service, then exits
 * </pre>
 *
 * The call loop waits up to peer.first-call-timeout-ms (default 60 s) for the first answer,
 * printing "RETRY error" meanwhile, since the service may not be in Eureka or in the client's
 * registry copy yet. After that it prints one line per call, "ANSWER message|servedBy" or
 * "FAIL error", and ends with "DONE ok=N failed=M".
 *
 * peer.id names this instance in its answers (default "spring:" + port). Errors end the
 * process with status 1 after a line starting "ERROR".
 */
@SpringBootApplication
public class Main {
    public static void main(String[] args) {
        if (args.length < 1 || !(args[0].equals("serve") || args[0].equals("call"))) {
            System.out.println("ERROR usage: serve|call [--property=value]...");
            System.exit(2);
        }
        String[] props = Arrays.copyOfRange(args, 1, args.length);
        try {
            SpringApplication app = new SpringApplication(Main.class);
            if (args[0].equals("call")) {
                app.setDefaultProperties(Map.of(
                        "spring.main.web-application-type", "none",
                        "eureka.client.register-with-eureka", "false"));
                ConfigurableApplicationContext ctx = app.run(props);
                Environment env = ctx.getEnvironment();
                CallLoop loop = ctx.getBean(CallLoop.class);
                loop.run(System.out,
                        env.getRequiredProperty("peer.service"),
                        env.getProperty("peer.count", Integer.class, 1),
                        env.getProperty("peer.interval-ms", Long.class, 0L));
                System.out.flush();
                // Nothing to deregister: skip the slow shutdown of the Eureka client.
                Runtime.getRuntime().halt(0);
            }
            app.run(props);
        } catch (Throwable t) {
            System.out.println("ERROR " + t);
            t.printStackTrace();
            System.out.flush();
            Runtime.getRuntime().halt(1);
        }
    }

    /**
     * The RestClient builder that anything else asking for one gets: the Eureka client builds
     * its transport from a RestClient.Builder bean, and given the load-balanced one it would
     * look the Eureka server's host up as a service name.
     */
    @Bean
    @Primary
    RestClient.Builder plainRestClient() {
        return RestClient.builder().requestFactory(requestFactory());
    }

    /** The RestClient whose requests name a service, which Spring Cloud LoadBalancer resolves. */
    @Bean
    @LoadBalanced
    RestClient.Builder loadBalancedRestClient() {
        return RestClient.builder().requestFactory(requestFactory());
    }

    private static SimpleClientHttpRequestFactory requestFactory() {
        SimpleClientHttpRequestFactory rf = new SimpleClientHttpRequestFactory();
        rf.setConnectTimeout(Duration.ofSeconds(2));
        rf.setReadTimeout(Duration.ofSeconds(5));
        return rf;
    }

    @Bean
    CallLoop callLoop(@LoadBalanced RestClient.Builder loadBalanced, Environment env) {
        return new CallLoop(loadBalanced.build(),
                env.getProperty("peer.first-call-timeout-ms", Long.class, 60_000L));
    }

    @EventListener
    void ready(ApplicationReadyEvent e) {
        if (e.getApplicationContext() instanceof WebServerApplicationContext web) {
            System.out.println("READY " + web.getWebServer().getPort() + " "
                    + ManagementFactory.getRuntimeMXBean().getUptime());
            System.out.flush();
        }
    }

    /** The answer of GET /greet, on both sides of a call. */
    public record Greeting(String message, String servedBy) {}

    /** The answer of GET /config/KEY. */
    public record ConfigValue(String key, String value) {}

    @RestController
    static class Endpoints {
        private final Environment env;
        private final CallLoop loop;
        private final DiscoveryClient discovery;

        Endpoints(Environment env, CallLoop loop, DiscoveryClient discovery) {
            this.env = env;
            this.loop = loop;
            this.discovery = discovery;
        }

        // A watch lasts as long as a test wants (minutes under Eureka's default intervals):
        // the emitter's own timeout replaces the servlet container's 30 s async default.
        @GetMapping("/watch")
        ResponseBodyEmitter watch(@RequestParam String service,
                @RequestParam(name = "interval-ms", defaultValue = "50") long intervalMs) {
            ResponseBodyEmitter emitter = new ResponseBodyEmitter(Duration.ofHours(2).toMillis());
            AtomicBoolean over = new AtomicBoolean();
            emitter.onCompletion(() -> over.set(true));
            emitter.onTimeout(() -> over.set(true));
            emitter.onError(e -> over.set(true));
            Thread poller = new Thread(() -> {
                String last = null;
                long sent = 0;
                try {
                    while (!over.get()) {
                        List<String> ids = discovery.getInstances(service).stream()
                                .map(ServiceInstance::getInstanceId).sorted().toList();
                        String now = String.join(",", ids);
                        if (!now.equals(last)) {
                            emitter.send("IDS " + now + "\n", MediaType.TEXT_PLAIN);
                            last = now;
                            sent = System.nanoTime();
                        } else if (System.nanoTime() - sent > 5_000_000_000L) {
                            // Nothing else would fail once the client has gone.
                            emitter.send("TICK\n", MediaType.TEXT_PLAIN);
                            sent = System.nanoTime();
                        }
                        Thread.sleep(Math.max(1, intervalMs));
                    }
                    emitter.complete();
                } catch (IOException | IllegalStateException e) {
                    // The client hung up (or the emitter ended): the watch is over.
                    emitter.completeWithError(e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    emitter.complete();
                }
            }, "watch-" + service);
            poller.setDaemon(true);
            poller.start();
            return emitter;
        }

        @GetMapping("/greet")
        Greeting greet(@RequestParam(defaultValue = "") String name) {
            String id = env.getProperty("peer.id", "spring:" + env.getProperty("local.server.port"));
            return new Greeting("hello, " + name, id);
        }

        // The Environment, not a field bound at start: /actuator/refresh replaces the
        // Config Server's property source in it, and the next read sees the new value.
        @GetMapping("/config/{key}")
        ResponseEntity<ConfigValue> config(@PathVariable String key) {
            String v = env.getProperty(key);
            if (v == null) {
                return ResponseEntity.status(HttpStatus.NOT_FOUND).build();
            }
            return ResponseEntity.ok(new ConfigValue(key, v));
        }

        @GetMapping("/call")
        ResponseEntity<StreamingResponseBody> call(@RequestParam String service,
                @RequestParam(defaultValue = "1") int count,
                @RequestParam(name = "interval-ms", defaultValue = "0") long intervalMs) {
            StreamingResponseBody body = out -> {
                PrintStream ps = new PrintStream(new FlushingStream(out), true, StandardCharsets.UTF_8);
                loop.run(ps, service, count, intervalMs);
                ps.flush();
            };
            return ResponseEntity.ok().contentType(MediaType.TEXT_PLAIN).body(body);
        }
    }

    /** Calls a service by name through the load-balanced client and prints what happened. */
    static final class CallLoop {
        private final RestClient client;
        private final long firstCallTimeoutMs;

        CallLoop(RestClient client, long firstCallTimeoutMs) {
            this.client = client;
            this.firstCallTimeoutMs = firstCallTimeoutMs;
        }

        void run(PrintStream out, String service, int count, long intervalMs) {
            long deadline = System.currentTimeMillis() + firstCallTimeoutMs;
            int ok = 0, failed = 0;
            for (int i = 0; i < count; i++) {
                Greeting g = null;
                while (true) {
                    try {
                        g = client.get().uri("http://{service}/greet?name={name}", service, "spring-" + i)
                                .retrieve().body(Greeting.class);
                        break;
                    } catch (RuntimeException e) {
                        // Before the first answer a failure means "not discovered yet".
                        if (ok == 0 && failed == 0 && System.currentTimeMillis() < deadline) {
                            out.println("RETRY " + describe(e));
                            sleep(300);
                            continue;
                        }
                        out.println("FAIL " + describe(e));
                        break;
                    }
                }
                if (g != null) {
                    ok++;
                    out.println("ANSWER " + g.message() + "|" + g.servedBy());
                } else {
                    failed++;
                }
                if (intervalMs > 0 && i + 1 < count) {
                    sleep(intervalMs);
                }
            }
            out.println("DONE ok=" + ok + " failed=" + failed);
        }

        private static String describe(Throwable e) {
            String m = e.getMessage() == null ? "" : e.getMessage();
            int nl = m.indexOf('\n');
            return e.getClass().getSimpleName() + ": " + (nl < 0 ? m : m.substring(0, nl));
        }

        private static void sleep(long ms) {
            try {
                Thread.sleep(ms);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }

    /** Flushes after every line, so that a test reads each answer of /call as it happens. */
    static final class FlushingStream extends OutputStream {
        private final OutputStream out;

        FlushingStream(OutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            if (b == '\n') {
                out.flush();
            }
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            out.flush();
        }

        @Override
        public void flush() throws IOException {
            out.flush();
        }
    }
}
