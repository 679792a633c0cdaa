// Package eureka is Tianshu's Eureka backend: a registry.Registry over the REST API of
// Netflix Eureka servers, as Spring Cloud Netflix runs them, written here on net/http (no
// third-party Eureka client), so that Go services register where Spring Cloud services
// look and find the services Spring Cloud registers.
//
//	reg, err := eureka.New(ctx, []string{"http://10.0.0.1:8761/eureka", "http://10.0.0.2:8761/eureka"})
//	if err != nil { ... }          // ErrInvalidConfig, ErrAuth
//	defer reg.Close()              // cancels this process's leases: its instances leave at once
//	err = reg.Register(ctx, instance)
//	w, err := reg.Watch(ctx, "orders")
//
// Importing the package also lets registry.Open take eureka:// URLs (see ParseURL):
//
//	eureka://10.0.0.1:8761,10.0.0.2:8761/eureka?fetch_interval=5s
//
// # Registration
//
// Register posts an InstanceInfo to POST {server}/apps/{APP} and an agent of the Registry
// renews its lease (PUT {server}/apps/{APP}/{id}) every renewal interval (30 s by default,
// WithRenewalInterval); the lease duration sent is 90 s by default (WithLeaseDuration). When
// a renewal answers 404 (the server restarted, or evicted the instance after a long pause),
// the agent registers the instance again at once; a registration the server did not take is
// retried with capped backoff (WithRetry) for as long as the instance is registered here.
// Deregister and Close cancel the lease (DELETE). Every registration carries a
// lastDirtyTimestamp newer than the one before, because Eureka keeps the registration it
// holds when that one's is newer (as after the clock stepped back).
//
// Statuses: instances are registered UP (WithInitialStatus to start as STARTING), and
// SetStatus moves them between UP, DOWN, STARTING and OUT_OF_SERVICE. Only UP instances are
// discovered, here and by Spring Cloud's clients. OUT_OF_SERVICE is set as Eureka's status
// override (PUT .../status), as Spring's service-registry actuator endpoint does, because
// Eureka keeps an UP instance UP when it is registered again as OUT_OF_SERVICE; leaving
// OUT_OF_SERVICE removes the override. The agent applies the status again after a server
// restart.
//
// # How a Tianshu instance appears in Eureka
//
// A registry.Instance of service "orders" becomes an instance of the application ORDERS
// (Eureka upper-cases application names, so service names that differ only in case are one
// application) with instanceId = Instance.ID, vipAddress and secureVipAddress = the service
// name as given (Spring's DiscoveryClient looks services up by VIP address, ignoring case),
// dataCenterInfo MyOwn, the lease above and:
//
//   - with an http endpoint: hostName and ipAddr = its host, port = its port, enabled, and
//     homePageUrl, statusPageUrl and healthCheckUrl on it (the health check path is
//     /healthz, where Tianshu's REST server answers liveness; WithHealthCheckPath). Spring's
//     @LoadBalanced clients call it like any Spring service. An https endpoint sets
//     securePort, enabled, likewise.
//   - with only gRPC (or other non-HTTP) endpoints: hostName and ipAddr = the first
//     endpoint's host, port = its port with @enabled "false", securePort disabled, and no
//     URLs. Eureka has no way to hide an instance from one kind of client, so Spring's
//     DiscoveryClient lists it, but it offers no enabled HTTP port: do not give a gRPC-only
//     service a name Spring code calls over HTTP.
//   - in the metadata, besides Instance.Metadata: tianshu.endpoints, every endpoint as
//     scheme://host:port, comma-separated, which is what Tianshu consumers dial;
//     tianshu.version and tianshu.weight; zone (Instance.Zone, the key Spring's zone
//     preference reads); and gRPC_port, the first grpc endpoint's port, the key the Java
//     gRPC Spring Boot starter (net.devh) resolves, so Java gRPC clients find Tianshu's
//     gRPC servers through Eureka too. These keys are reserved: an instance whose Metadata
//     uses one (or any tianshu.* key) is refused with registry.ErrInvalidInstance.
//
// Instances read back carry the service name they were asked for. An instance registered
// by another client (a Spring Boot application) has no tianshu.endpoints: its endpoints are
// https://hostName:securePort and http://hostName:port for the ports enabled, and
// grpc://hostName:gRPC_port when its metadata has that key; its metadata is kept (less the
// reserved keys), and its zone read from "zone". An instance with no usable endpoint is
// skipped and logged once per version.
//
// # Discovery
//
// GetService reads GET {server}/apps/{APP}; ListServices (registry.ServiceLister) lists
// the applications of GET {server}/apps/ by their VIP addresses. Watches are served from a
// copy of the whole registry that the Registry keeps as Eureka's own clients do: one full
// fetch (GET /apps/), then every fetch interval (10 s by default, WithFetchInterval) the
// recent changes (GET /apps/delta, which holds the last 3 minutes of changes by default)
// applied to it; the copy's reconcile hash (each status with its count, as
// "DOWN_1_UP_3_") must then equal the delta's apps__hashcode, or the next step is a full
// fetch (changes missed, a server restarted or failed over). Watchers of a service get its
// UP instances through a registry.Broadcast; a fetch that fails keeps their lists.
//
// Requests go to the server that answered last and fail over to the next URL in turn when
// a server cannot be reached, times out (WithRequestTimeout) or answers 5xx.
//
// # A server that cannot be reached
//
// The registry package's contract holds: New waits about a second at most for a first
// answer and returns a working Registry when no server answers; Healthy reports whether
// the last request reached a server; Register keeps the instance and returns an error
// wrapping registry.ErrUnavailable, and the agent registers it once a server answers;
// Watch returns at once, with the list last fetched (empty if none), and delivers once a
// fetch succeeds: within the backoff cap or the fetch interval, whichever is longer, plus
// the request time. What retrying cannot fix fails at once: a server answering 404 where
// the API should be (a wrong path: ErrInvalidConfig), 401 or 403 (ErrAuth).
//
// # How long a dead instance stays listed
//
// An instance whose process is killed (no cancellation) stays listed until Eureka evicts
// it and the news reaches the consumers. With Eureka's and Spring Cloud's default settings
// (verified against eureka-core 2.0.6 and spring-cloud-netflix-eureka-server 5.0.3, the
// versions of Spring Cloud 2025.1.4):
//
//   - the lease expires 2 x 90 s = 180 s after its last renewal: Lease.renew stores
//     now + duration as the renewal time and isExpired adds the duration again; the last
//     renewal came 0-30 s before the kill (renewal interval 30 s), so 150-180 s after it;
//   - the eviction task runs every 60 s (eviction-interval-timer-in-ms): up to 60 s more;
//   - the read-only response cache, which answers clients, is refreshed from the live one
//     every 30 s (response-cache-update-interval-ms): up to 30 s more;
//   - the consumer fetches every 30 s for Spring's client (registry-fetch-interval-seconds),
//     10 s for this package by default: up to 30 s more; Spring Cloud LoadBalancer then
//     caches the list for up to 35 s (spring.cloud.loadbalancer.cache.ttl).
//
// So 150-300 s for a Spring DiscoveryClient (up to 335 s behind Spring's load balancer
// cache), 150-280 s for a Tianshu watcher: up to 5 minutes. And never while
// self-preservation holds (on by default): unless more renewals arrive in a minute than
// 85 % of those expected (renewal-percent-threshold), the server stops evicting. Spring's
// server expects two a minute per registered instance plus one phantom client
// (eureka.instance.registry.default-open-for-traffic-count=1), so with N live instances
// and one killed it evicts only if 2N > 1.7 (N + 2), that is N >= 12: in a registry of 11
// instances one killed instance stays for good (seen in this package's second-tier test).
// Each eviction round also evicts at most about 15 % of the registry. Measured once, with
// every setting at its default and 20 live instances beside the killed one, a Tianshu
// watcher lost the killed instance 221 s after the SIGKILL:
//
//	TIANSHU_SECOND_TIER=1 go test -run LingersUnderEurekaDefaults -v ./registry/eureka/
//
// A Deregister (Tianshu's graceful shutdown) skips the lease and the eviction: it takes the
// response cache (30 s) and the consumers' fetch (30 s for Spring's client, 10 s here), a
// minute in all for a Spring DiscoveryClient, and 35 s more behind Spring Cloud
// LoadBalancer's cache. A server should keep serving that long after deregistering:
// Registry.DeregisterDelay returns that wait (95 s unless WithDeregisterDelay) for the
// servers' WithDeregisterDelay; shorten it together with the server's and consumers'
// settings.
//
// The server's live response cache can also hold a stale answer: it is a Guava
// LoadingCache, which keeps what a load read when the invalidation a registration sends
// came during that load (Guava issue 1881). A consumer then applies a delta without the
// registration, whose registry hash agrees with it, until the entry expires
// (response-cache-auto-expiration-in-seconds, 180 s by default); Spring's client is misled
// the same way. Seen once in this package's tests, right after a server restart.
//
// The test server (internal/testenv/springserver) turns self-preservation and the
// read-only cache off, lets its live cache's entries live 2 s, and evicts every second,
// and the tests renew every second with a 2 s lease: a killed provider leaves in 3-5 s
// there.
//
// # Performance
//
// A change reaches a watcher within the fetch interval plus a delta round trip. On a 2-core
// VM against the test server (Spring Cloud 2025.1.4, no read-only cache) with a 200 ms fetch
// interval, Register to the consumer's watcher notified takes 137 ms at p50 and 508 ms at
// p99. registrytest's scale row (1,000 services of 5 instances, one consumer watching them
// all) gets every full list in 1.6 s, holding 19 MiB of heap, and notifies at 157 ms p50 and
// 960 ms p99, with the server keeping 5 s of changes in its deltas. With Eureka's default
// of 3 minutes, every delta fetched in the 3 minutes after the 5,000 registrations carries
// all of them (about 6 MB of JSON, for Spring's clients too): p50 1.0 s and p99 3.1 s then.
//
//	go test -run '^$' -bench RegisterToNotified -benchtime=50x -count=1 ./registry/eureka/
//	go test -run '^$' -bench Scale -benchtime=1x -count=1 ./registry/eureka/
package eureka
