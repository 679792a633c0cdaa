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
// with the parameters session_timeout and reconnect_max (Go durations), layout (tianshu or
// dubbo), user and password (digest authentication) and application (the Dubbo application
// name). Write IPv6 servers after the first one of the list.
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
// grpc-go serves as is.
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
//
// With WithAuth, nodes are created with a digest ACL and go-zookeeper sends the credentials
// again on every new connection. Credentials ZooKeeper refuses give errors wrapping
// ErrNoAuth, at New when the root node already exists with another ACL (and a server was
// reachable at New; otherwise at the first call that meets the ACL).
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
