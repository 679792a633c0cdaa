// Package loadbalance is Tianshu's client-side load balancing: five grpc-go balancers,
// registered by name with grpc's balancer registry and chosen by service config, over the
// algorithms of package pick.
//
//	P2C            "tianshu_p2c"             the default: latency, calls in flight, successes
//	RoundRobin     "tianshu_round_robin"     smooth weighted round robin
//	Random         "tianshu_random"          weighted random, O(1)
//	LeastActive    "tianshu_least_active"    fewest calls in flight, ties by weight
//	ConsistentHash "tianshu_consistent_hash" same key, same endpoint
//
// Each is built as grpc's own round_robin is: endpointsharding with a pick_first child per
// endpoint and the health listener on. So a resolver reporting only Endpoints works, and a
// weight change (new endpoint attributes) rebuilds the picker without reconnecting. Weight,
// version, zone and tag come from the registry.Instance the resolver attaches with
// WithInstance. Every call's Done feeds the endpoint's figures; an endpoint whose calls fail
// with Unavailable is ejected for a back-off, then probed with one call.
//
// Filters run before the algorithm. The balancer's JSON config (Config) sets the version to
// keep and the caller's zone to prefer; each call may ask for a tag (canary routing) with
// WithTag or the x-tianshu-tag metadata, and carry a consistent-hash key with WithHashKey or
// the x-tianshu-hash-key metadata.
//
// Governance rules (package rules) come the same way: a resolver state carrying a store
// (WithRules; rpc.WithRules attaches it) makes the balancer apply the service's instance
// overrides and routes, compiled once per snapshot by rules.Compile, and build its picker
// again on every change of the rules over the same connections.
//
// With package rpc nothing needs wiring: rpc.Dial resolves tianshu:///<service> from a
// registry, attaches the instances and selects the balancer (rpc.WithBalancer,
// rpc.WithRouting). Without it, select a balancer in the service config of any channel; the
// tianshu scheme is not registered globally, so give grpc a target its own resolvers know
// (here DNS, grpc's default). Endpoints without a registry instance get the default weight
// and pass no version, zone or tag filter.
//
//	conn, err := grpc.NewClient("orders.internal:8080",
//		grpc.WithTransportCredentials(insecure.NewCredentials()),
//		grpc.WithDefaultServiceConfig(loadbalance.ServiceConfig(loadbalance.P2C)))
package loadbalance
