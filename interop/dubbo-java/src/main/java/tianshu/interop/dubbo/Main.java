package tianshu.interop.dubbo;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ProtocolConfig;
import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

import tianshu.interop.v1.DubboGreeterTriple;
import tianshu.interop.v1.GreetReply;
import tianshu.interop.v1.GreetRequest;
import tianshu.interop.v1.Greeter;

/**
 * The Java peer of interop/dubbo_test.go: a Dubbo 3 Triple provider or consumer of
 * tianshu.interop.v1.Greeter, discovering through the registry URL it is given
 * (zookeeper://127.0.0.1:2181 or nacos://127.0.0.1:8848) at interface level.
 *
 * <pre>
 * provider REGISTRY PORT GROUP:VERSION...   exports Greeter once per GROUP:VERSION (either may
 *                                           be empty) on 127.0.0.1:PORT, prints "READY", and
 *                                           serves until killed
 * consumer REGISTRY GROUP VERSION COUNT     calls Greeter COUNT times (waiting up to 60 s for
 *                                           the first answer), prints one line per answer,
 *                                           "ANSWER message|served_by|group|version", then "DONE"
 * </pre>
 *
 * The provider registers at interface level only; -Dpeer.register-mode=all (Dubbo's default)
 * adds the application-level records, /services/APP/HOST:PORT and MetadataServiceV2, and
 * "instance" writes those alone. Other system properties a test may set:
 * <pre>
 * peer.migration     the consumer's migration step: FORCE_INTERFACE (the default here),
 *                    APPLICATION_FIRST (Dubbo's default) or FORCE_APPLICATION
 * peer.warmup        the provider's warm-up in milliseconds (Dubbo's default is 10 minutes,
 *                    during which a new provider gets a share of calls that grows from 0)
 * peer.app           the application name (default tianshu-interop-java-provider or -consumer)
 * peer.interval-ms   the consumer's pause between calls (default 0)
 * peer.keep-going    "true": the consumer prints "FAIL error" for a failed call after the first
 *                    answer and goes on, and its last line is "DONE ok=N failed=M"
 * peer.metadata-center "true": the registry is also the metadata centre (Dubbo's default), so
 *                    a provider writes the interface's mapping to its application there
 * </pre>
 * Dubbo's caches of mappings and metadata go under the working directory (user.home is set to
 * it), so no run reads what an earlier one left.
 *
 * Errors end the process with status 1 after a line starting "ERROR".
 */
public final class Main {
    private static final long FIRST_CALL_DEADLINE_MS = 60_000;

    private Main() {}

    public static void main(String[] args) throws Exception {
        // Interface-level discovery only: Tianshu publishes no application-level metadata, and
        // APPLICATION_FIRST would wait for it before falling back.
        System.setProperty("dubbo.application.service-discovery.migration",
                System.getProperty("peer.migration", "FORCE_INTERFACE"));
        System.setProperty("user.home", System.getProperty("user.dir"));
        // Dubbo refuses to announce a 127.x address it is given (NetUtils.isInvalidLocalHost)
        // and looks for a non-loopback interface instead; with every interface ignored it falls
        // back to 127.0.0.1, so the tests stay on loopback.
        System.setProperty("dubbo.network.interface.ignored", ".*");
        // A test stops the provider with SIGTERM: unregister and go, without Dubbo's 10 s wait.
        System.setProperty("dubbo.service.shutdown.wait", "1000");
        try {
            if (args.length >= 4 && args[0].equals("provider")) {
                provider(args[1], Integer.parseInt(args[2]), List.of(args).subList(3, args.length));
            } else if (args.length == 5 && args[0].equals("consumer")) {
                consumer(args[1], args[2], args[3], Integer.parseInt(args[4]));
            } else {
                throw new IllegalArgumentException("usage: provider REGISTRY PORT GROUP:VERSION... | consumer REGISTRY GROUP VERSION COUNT");
            }
        } catch (Throwable t) {
            System.out.println("ERROR " + t);
            t.printStackTrace();
            System.out.flush();
            Runtime.getRuntime().halt(1);
        }
    }

    private static ApplicationConfig application(String name) {
        ApplicationConfig app = new ApplicationConfig(System.getProperty("peer.app", name));
        app.setQosEnable(false);
        // Interface-level only unless a test asks for Dubbo's default, "all", to see the
        // application-level records (/services/<app>, MetadataServiceV2) a Java provider writes.
        app.setRegisterMode(System.getProperty("peer.register-mode", "interface"));
        app.setLogger("slf4j");
        return app;
    }

    private static RegistryConfig registry(String address) {
        RegistryConfig reg = new RegistryConfig(address);
        // The registry is only a registry here: no config center, no metadata report, unless
        // peer.metadata-center is "true": then it is also the metadata centre, as by default,
        // and a provider writes the interface-to-application mapping there.
        reg.setUseAsConfigCenter(false);
        reg.setUseAsMetadataCenter(Boolean.getBoolean("peer.metadata-center"));
        reg.setTimeout(10_000);
        return reg;
    }

    private static void provider(String registryAddress, int port, List<String> groupVersions) throws InterruptedException {
        ProtocolConfig tri = new ProtocolConfig("tri", port);
        tri.setHost("127.0.0.1");
        List<ServiceConfig<Greeter>> services = new ArrayList<>();
        for (String gv : groupVersions) {
            int colon = gv.indexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("want GROUP:VERSION, got " + gv);
            }
            String group = gv.substring(0, colon), version = gv.substring(colon + 1);
            ServiceConfig<Greeter> svc = new ServiceConfig<>();
            svc.setInterface(Greeter.class);
            svc.setRef(new GreeterImpl(group, version));
            if (!group.isEmpty()) {
                svc.setGroup(group);
            }
            if (!version.isEmpty()) {
                svc.setVersion(version);
            }
            String warmup = System.getProperty("peer.warmup");
            if (warmup != null) {
                svc.setWarmup(Integer.parseInt(warmup));
            }
            services.add(svc);
        }
        DubboBootstrap boot = DubboBootstrap.getInstance()
                .application(application("tianshu-interop-java-provider"))
                .registry(registry(registryAddress))
                .protocol(tri);
        services.forEach(boot::service);
        boot.start();
        System.out.println("READY " + port);
        System.out.flush();
        new CountDownLatch(1).await(); // Dubbo's shutdown hook unregisters on SIGTERM
    }

    private static void consumer(String registryAddress, String group, String version, int count) {
        ReferenceConfig<Greeter> ref = new ReferenceConfig<>();
        ref.setInterface(Greeter.class);
        ref.setProtocol("tri");
        ref.setCheck(false); // the provider may not be listed yet: retry below instead
        ref.setTimeout(5_000);
        ref.setRetries(0);
        if (!group.isEmpty()) {
            ref.setGroup(group);
        }
        if (!version.isEmpty()) {
            ref.setVersion(version);
        }
        DubboBootstrap boot = DubboBootstrap.getInstance()
                .application(application("tianshu-interop-java-consumer"))
                .registry(registry(registryAddress))
                .reference(ref);
        boot.start();
        Greeter greeter = ref.get();
        long interval = Long.parseLong(System.getProperty("peer.interval-ms", "0"));
        boolean keepGoing = Boolean.parseBoolean(System.getProperty("peer.keep-going", "false"));
        long deadline = System.currentTimeMillis() + FIRST_CALL_DEADLINE_MS;
        int ok = 0, failed = 0;
        for (int i = 0; i < count; i++) {
            GreetRequest req = GreetRequest.newBuilder().setName("java-" + i).build();
            GreetReply r = null;
            while (r == null) {
                try {
                    r = greeter.greet(req);
                } catch (RuntimeException e) {
                    if (i > 0 && keepGoing) {
                        System.out.println("FAIL " + e.getClass().getSimpleName() + ": " + firstLine(e.getMessage()));
                        failed++;
                        break;
                    }
                    if (i > 0 || System.currentTimeMillis() > deadline) {
                        throw e;
                    }
                    System.out.println("RETRY " + e.getClass().getSimpleName() + ": " + firstLine(e.getMessage()));
                    sleep(300);
                }
            }
            if (r != null) {
                ok++;
                System.out.println("ANSWER " + r.getMessage() + "|" + r.getServedBy() + "|" + r.getGroup() + "|" + r.getVersion());
            }
            if (interval > 0) {
                sleep(interval);
            }
        }
        System.out.println(keepGoing ? "DONE ok=" + ok + " failed=" + failed : "DONE");
        System.out.flush();
        boot.stop();
        Runtime.getRuntime().halt(0); // skip the slow shutdown of registry clients
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Answers with its own group and version, so the caller sees which export served it. */
    private static final class GreeterImpl extends DubboGreeterTriple.GreeterImplBase {
        private final String group, version;

        GreeterImpl(String group, String version) {
            this.group = group;
            this.version = version;
        }

        @Override
        public GreetReply greet(GreetRequest request) {
            return GreetReply.newBuilder()
                    .setMessage("hello, " + request.getName())
                    .setServedBy("java:" + group + ":" + version)
                    .setGroup(group)
                    .setVersion(version)
                    .build();
        }
    }
}
