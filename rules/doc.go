// Package rules holds Tianshu's governance rules: the traffic rules operators change
// without redeploying (drain an instance, shift weight to a new version, send a tagged
// canary to a subset, tighten a method's timeout or retries, limit a provider), kept in
// the config center and read by every consumer: rpc.Dial's balancers, rest's HTTP client,
// the gateway, and providers for their limits.
//
// Rules are not registry entries: those belong to a provider's session, lease or
// heartbeat and are rewritten by it. A rules document lives under the key "rules" of any
// config source (a file, a ZooKeeper node, an etcd key, a Nacos dataId), so it is read,
// validated and swapped the way config is: an invalid document is rejected whole and the
// last good rules stay; a config center that goes down leaves the last good rules in
// force.
//
//	rules:
//	  services:
//	    orders:
//	      instances:                   # overrides by instance ID or host:port
//	        - id: orders-7f9c-1
//	          out: true                # drained: no new calls
//	        - address: 10.0.0.5:8080
//	          weight: 300
//	      routes:                      # first match wins
//	        - match: {header: x-canary, value: "true"}
//	          to:
//	            - {version: v2, weight: 10}
//	            - {version: v1, weight: 90}
//	      methods:                     # call policy, by method; "*" for the rest
//	        /shop.Orders/PlaceOrder: {timeout: 500ms, retries: {attempts: 1}}
//	        "*": {timeout: 2s}
//	      limits:                      # providers' limits, by method
//	        /shop.Orders/PlaceOrder: {rate: 200, burst: 50}
//	  defaults:                        # for every service, under its own rules
//	    methods:
//	      "*": {timeout: 5s}
//
// A Store holds the rules in force; consumers read it without locks and subscribe to
// changes. Watch makes one that follows the config sources; every change is decoded
// (strictly: a key no field reads is an error, so a misspelt rule is rejected rather than
// silently ignored) and validated whole before it is put in force:
//
//	store, err := rules.Watch(ctx, []config.Source{etcdSource}, rules.WithErrorHandler(alert))
//	if err != nil { ... } // no good rules to start from
//	defer store.Close()
//	p, ok := store.Load().PolicyFor("orders", "/shop.Orders/PlaceOrder")
//
// The format, field by field, with worked examples: docs/rules.md. The command line checks
// and changes the rules: tianshu rules validate|get|set|watch.
package rules
