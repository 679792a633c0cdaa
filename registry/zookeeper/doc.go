// Package zookeeper is Tianshu's ZooKeeper registry backend, for teams that run ZooKeeper
// already, Dubbo teams among them.
//
//	reg, err := zookeeper.New(ctx, []string{"127.0.0.1:2181"})
//	if err != nil { ... }
//	defer reg.Close()
//	err = reg.Register(ctx, instance)
//	w, err := reg.Watch(ctx, "orders")
//
// Importing the package also lets registry.Open take URLs such as
//
//	zookeeper://10.0.0.1:2181,10.0.0.2:2181/tianshu?session_timeout=10s&layout=dubbo&user=ops&password=secret
//
// with the parameters session_timeout and reconnect_max (positive Go durations), layout
// (tianshu or dubbo), user and password (digest authentication; or user:password@ before the
// hosts) and application (the Dubbo application name); see ParseURL. The URL is read by the
// rules every backend shares (registry.URLParser): each server is host[:port], port 1-65535
// and DefaultPort (2181) when omitted, an IPv6 address in brackets ([::1]:2181); an unknown,
// repeated or empty parameter is an error, never ignored, so that a misspelt one does not pass
// silently. Go's URL parser refuses some lists (see registry.URLParser): give the last host a
// port whenever another has one, and pass a list with an IPv6 address to New. Errors wrap
// ErrInvalidConfig and registry.ErrInvalidURL, and name the parameter or host at fault.
//
// # Layout
//
// By default (LayoutTianshu) every service lives under the root, /tianshu:
//
//	/tianshu                                 persistent
//	/tianshu/<service>                       persistent
//	/tianshu/<service>/providers             persistent
//	/tianshu/<service>/providers/<ID>        ephemeral, one per instance
//
// An instance node is named by the instance ID and holds a JSON document,
//
//	{"format":1,"instance":{"id":"orders-1","service":"orders","endpoints":["grpc://10.0.0.7:9000"],...}}
//
// where "instance" is a registry.Instance in its JSON form. Readers skip, and log once,
// nodes that do not parse, hold a newer format, or whose instance does not match the node's
// service and name. The providers level leaves room beside it (consumers, configuration)
// as Dubbo's layout has.
//
// With LayoutDubbo the Registry reads and writes Dubbo's interface-level layout, so that
// Java Dubbo 3 consumers find Tianshu providers and Tianshu consumers find Dubbo providers:
//
//	/dubbo/<interface>/providers/<URL-encoded tri://host:port/<interface>?application=...&interface=...&methods=...&side=provider&release=...&timestamp=...>
//
// The service name is the interface name. Package dubbo converts between URLs and
// instances; a Java consumer using Triple calls /<proto package.Service>/<Method>, which
// grpc-go serves as is. Connections dialled with rpc.WithDubbo are listed under
// /dubbo/<interface>/consumers, as Java consumers are (RegisterConsumer).
//
// Consumers in LayoutDubbo also find providers registered at application level only (Dubbo
// 3's register-mode=instance): the interface's mapping /dubbo/mapping/<interface> names the
// applications, /services/<application>/<host:port> their instances, and each instance's
// MetadataServiceV2 the services of its revision (fetched once per revision and cached; a
// failed fetch is logged once, retried with backoff, and its instances left out meanwhile).
// The mapping and the instances are watched. By default (dubbo.DiscoverAll) both levels
// are listed, a provider registered at both once, as its interface-level entry;
// WithDubboDiscovery keeps one level (package dubbo explains why the union is the default).
// Nodes that cannot be read keep the last lists; a malformed instance node is skipped and
// logged once.
//
// Dubbo 3 also discovers at application level, and its consumers prefer that level as soon
// as any provider of an interface offers it. So the Dubbo layout, in its default register
// mode (WithRegisterMode(dubbo.RegisterAll), Dubbo's "all"), also writes what a Java Dubbo
// 3.3 provider writes: the ephemeral node /services/<application>/<host:port> in the JSON
// Dubbo's Curator writes (dubbo.AppInstance), whose metadata names the revision of the
// services served at that address and is rewritten in place when a service is registered
// there or leaves; and the application in /dubbo/mapping/<interface>, appended with a
// compare-and-set on the node's version, as Dubbo does, so that applications sharing an
// interface all stay listed. Consumers fetch the metadata of the revision from the provider
// itself: rpc.NewServer serves it (MetadataServiceV2) when its registrar is the Registry
// (see DubboMetadata). dubbo.RegisterInterface writes the interface level alone, as before.
//
// # Sessions
//
// A provider's nodes are ephemeral: a provider that dies leaves consumers' lists when its
// session times out (WithSessionTimeout). Everything else is the Registry's job:
//
//   - when no server accepts a connection within about a second of New, New returns the
//     Registry anyway (the registry package's contract): it connects in the background,
//     registrations are kept and their nodes created once it has a session, and watches
//     start empty and deliver then;
//   - while disconnected it reconnects in rounds over the server list, with capped,
//     jittered exponential backoff between rounds, and consumers keep the lists they have
//     (Healthy reports false, which registry.Failover uses to hold empty lists back);
//   - after a plain reconnection, go-zookeeper restores the watches and the nodes survive;
//     the Registry still re-reads every watched service, in case a watch was lost;
//   - after a session expiry go-zookeeper opens a new session and restores nothing: the
//     Registry re-creates its nodes (replacing any node left at the same path by another
//     session: Stat.EphemeralOwner differs from the new session ID), re-arms a child watch
//     on every watched service and a data watch on every provider node, and delivers full
//     lists again. Applications see nothing but a log line.
//   - for a while after a new session (the session timeout, or the reconnection backoff's
//     maximum plus a second when longer), a watch keeps the instances it no longer finds.
//     The expiry that ended the consumer's session has usually ended its providers' too
//     (a server paused or cut off from everyone), and deleted their nodes: a consumer that
//     gets its new session first would otherwise publish a short or empty list while it
//     reports itself healthy, so that registry.Failover would not hold it back. Instances
//     that come back in the window replace the kept ones; those that do not leave the list
//     at its end, as late as a provider that dies alone leaves it. A provider deregistered
//     in the window leaves at its end too. GetService reads the nodes as they are.
//
// With WithAuth, nodes are created with a digest ACL and go-zookeeper sends the credentials
// again on every new connection. Credentials ZooKeeper refuses give errors wrapping
// ErrNoAuth, at New when the root node already exists with another ACL (and a server was
// reachable at New; otherwise at the first call that meets the ACL).
//
// The config sources over a node or a node's children are package config/zookeeper; they
// read through a Registry's session (zkconfig.Node(reg, path)), so one session serves both.
//
// The Registry takes go-zookeeper's event callback (it never blocks) rather than its event
// channel, and routes the library's own log lines to the Registry's slog logger at debug
// level, so that a server that stays down costs one warning, not a line per attempt.
//
// Known client race: go-zookeeper v1.0.4 (the latest release) reads Conn.lastZxid while
// re-sending watches after a reconnect as its receive loop writes it. The race detector
// reports it now and then; the value only tells the server which changes the watches have
// already seen.
package zookeeper
