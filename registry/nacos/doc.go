// Package nacos is Tianshu's registry backend for Nacos 2, built on
// nacos-sdk-go/v2 with its traps handled:
//
//   - the SDK's cache goes under one directory (WithDir; default tianshu/nacos under
//     os.UserCacheDir), never next to the binary or in the working directory, and its log
//     messages go to the slog logger (WithLogger) at debug level, not to a file: the SDK's
//     log rotator and its UDP push receiver would outlive the client otherwise, and no
//     goroutine the SDK started is left once the last Registry and Source are closed (the
//     push receiver is stopped on Linux only; elsewhere each closed naming client leaves
//     one goroutine blocked);
//   - instances are sent with Enable, Healthy, Ephemeral, a positive weight and a cluster
//     always set, since Nacos reads their zero values as "off" or "persistent";
//   - several instances of a service in one process are registered together
//     (BatchRegisterInstance), since Nacos 2 keeps one registration per service and
//     connection;
//   - a watcher's first Next returns the current list even when it equals the SDK's cache,
//     and an empty list is delivered when the last instance leaves;
//   - lists hold every enabled, healthy, weighted instance (the SDK's
//     SelectInstances(HealthyOnly=false) would return only unhealthy ones);
//   - one SDK client per server address and settings is shared by every Registry and Source
//     and closed once, by its last user, because the SDK's logger and client map are global.
//
// The SDK's logger stays global: its messages go to the logger of the most recently made
// client, whichever Registry or Source that was. With rnacos, run the server with
// RNACOS_NAMING_INSTANCE_METADATA_PERSISTENCE_ENABLE=false: otherwise it pins the first
// metadata registered at an ip:port and ignores later updates.
//
// Instance fields Nacos has no place for travel as metadata under MetaID, MetaVersion,
// MetaZone and MetaEndpoints. Consumers also read Spring Cloud Alibaba registrations (plain
// names) and, with WithDubboNaming or a full providers:<interface>:<version>:<group> name,
// Dubbo providers. WithDubboConsumers lists rpc.WithDubbo connections as Dubbo consumers.
//
// Under WithDubboNaming, consumers also find Dubbo providers registered at application level
// only: the mapping (config dataId <interface>, group DubboMappingGroup) names the
// applications, the service <application> in DEFAULT_GROUP lists their instances, and each
// instance's MetadataServiceV2 the services of its revision, fetched once per revision. The
// application level lists every group and version of the interface (rpc.WithDubbo picks
// one). By default both levels are merged; WithDubboDiscovery keeps one.
//
// With WithDubboNaming, in the default register mode (WithRegisterMode(dubbo.RegisterAll),
// Dubbo 3's "all"), providers are registered at Dubbo's application level too, as a Java
// Dubbo 3.3 provider is: an instance of the service <application> (WithApplication) in the
// Registry's group, with Dubbo's instance metadata naming the revision of the services at
// that address, updated when a service is registered there or leaves; and the application
// appended to the mapping, config dataId <interface> in group MappingGroup. The append
// publishes with Dubbo's compare-and-set ticket (casMd5, the MD5 of the content read) and
// reads the content back after a pause, because rnacos 0.8 ignores the ticket. The metadata
// is served by the provider: rpc.NewServer serves MetadataServiceV2 when its registrar is
// the Registry (see DubboMetadata).
//
// Clusters: WithCluster names the cluster this process registers in; consumers list every
// cluster unless WithClusters names the ones they call (for example their own data centre).
//
// Latency: rnacos pushes a naming change on the first 500 ms tick at least 500 ms after it,
// so consumers see a change 0.5-1 s after Register (p50 747 ms, p99 973 ms on loopback; the
// bare SDK waits as long). Config changes arrive in about 0.4 s.
//
// Recovery: the SDK reconnects with its own backoff (growing by 100 ms per round to 5 s) and
// then registers and subscribes again; a registration that still fails is retried by the
// Registry with capped, jittered backoff (WithRetry). A server that restarted has forgotten
// every instance, and a consumer often subscribes again before the providers have
// registered again: for 8 s after the SDK subscribes again on a new connection, a watch
// keeps the instances missing from the lists it gets, so that it does not publish a short
// or empty list while it reports itself healthy (registry.Failover holds back an empty list
// only while the backend is unhealthy). Instances back in time replace the kept ones; the
// others, and any deregistered in those 8 s, leave at the end. The SDK gives no sign of a
// reconnection, so the Registry recognises its re-subscription by the caller of its
// callback; a server paused without dropping the consumer's connection is not covered. A
// server that is down when New runs is handled the same way (the registry package's
// contract): New returns at once, Register keeps the instance (ErrUnavailable meanwhile), and
// Watch starts from an empty list that the renewed subscription fills once the SDK connects.
//
// Known SDK races (v2.3.2, unchanged in v2.3.5), both reported by -race, neither fixable from
// outside the SDK: a reconnect writes RpcClient.currentConnection while the event goroutine
// reads it; and a client's first "connected" event re-subscribes on another goroutine while
// the first Subscribe is under way, both sorting the cached instance list in place. The
// second needs the event goroutine to be held up for a whole Subscribe call, which only a
// starved process sees; if it does, a watcher may hold a misordered read of the list until
// the next change is pushed.
//
// The shortest use:
//
//	reg, err := nacos.New(ctx, []string{"127.0.0.1:8848"}, nacos.WithNamespace("dev"))
//	if err != nil { ... }
//	defer reg.Close()
//	err = reg.Register(ctx, &registry.Instance{ID: "orders-1", Service: "orders",
//		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "10.0.0.5", Port: 9000}}})
//
// or, by URL after importing the package:
//
//	registry.Open(ctx, "nacos://127.0.0.1:8848/dev?group=G&cluster=C&clusters=C,D&username=u&password=p&cache_dir=/var/cache/app")
//
// The URL is read by the rules every backend shares (see ParseURL and registry.URLParser):
// each server is host[:port], DefaultPort (8848) when omitted, an IPv6 address in brackets;
// the port is at most 64535, since gRPC listens on port+1000; timeout is a positive Go
// duration; an unknown, repeated or empty parameter is an error, never ignored, so that a
// misspelt one does not pass silently. Go's URL parser refuses some lists (see
// registry.URLParser): give the last host a port whenever another has one, and pass a list
// with an IPv6 address to New. Errors wrap ErrInvalidConfig and registry.ErrInvalidURL, and
// name the parameter or host at fault.
//
// The config source over dataIds is package config/nacos; it shares this package's SDK
// clients (a Registry and a Source on the same servers and settings hold one connection).
// ConfigOptions carries registry options, such as ParseURL returns, over to it.
package nacos
