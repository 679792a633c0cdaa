// Package registry is the contract between Tianshu services and the service registry that
// lets them find each other.
//
// A provider announces an [Instance] through a [Registrar]; a consumer reads and follows the
// instances of a service through a [Discovery] and its [Watcher]. Backends (registry/file,
// registry/memory, and the ZooKeeper, Nacos and etcd packages) implement [Registry]; core
// packages depend only on this package, never on a backend.
//
// Shared machinery lives here too, so that every backend behaves the same when its server
// misbehaves: [NewFailover] keeps the last good list of each service in memory and on disk
// and holds an update that would drop every instance while the backend is unhealthy.
// Backends read the URLs [Open] takes with [URLParser], so that a URL gets the same verdict
// from every backend; a URL a backend cannot use gives an error wrapping [ErrInvalidURL].
//
// # When the server cannot be reached
//
// Every backend with a server (ZooKeeper, etcd, Nacos) behaves the same while that server
// is down or cannot be reached, so that a provider started before its registry serves
// anyway and a consumer started then finds its instances once the registry is back:
//
//   - Open (and each backend's New) waits about a second at most for a server that does
//     not answer, then returns a usable Registry that keeps connecting in the background
//     with capped, jittered backoff (each backend documents its cap). It does not fail
//     because the server is down.
//   - Healthy ([HealthReporter]) reports false until the Registry is connected.
//   - Register validates the instance, records it, and waits for the server no longer than
//     ctx allows (and the backend's own request bound). If the server did not answer, the
//     error wraps [ErrUnavailable] and the instance stays recorded: the Registry registers
//     it by itself as soon as the server is reachable, unless Deregister or Close comes
//     first. Callers may treat that error as a warning and keep serving; calling Register
//     again is harmless (rpc.Server retries until it gets nil, which it logs).
//   - Deregister and GetService return errors wrapping [ErrUnavailable], within ctx.
//   - Watch returns a Watcher at once (within about a second): its first Next returns the
//     list the Registry last read, empty if none, and later calls deliver the service's
//     list once the server is reachable. [Failover] holds such an empty list back and
//     serves its cache instead, because the backend is unhealthy.
//
// Once the server accepts connections, a registration recorded meanwhile lands, and
// watches deliver it, within the backend's backoff cap plus about two seconds.
//
// What retrying cannot fix fails at once instead, with its own error, and is not retried
// like an unreachable server: a malformed URL or option (each backend's ErrInvalidConfig),
// and, when the server answers Open, refused credentials or a denied ACL (etcd.ErrAuth,
// zookeeper.ErrNoAuth, nacos.ErrUnauthorized) and a TLS mismatch. If the server is reached
// only later, those errors come from the calls that meet them, and the backend logs them.
// The file backend has no server to wait for: a directory it cannot use fails Open at
// once, with an error wrapping [ErrUnavailable]. When Open fails, the Registry it returns
// is nil. registrytest checks all of this against each backend's real server.
//
// The shortest working use, with the embedded file backend:
//
//	reg, err := registry.Open(ctx, "file:///var/run/tianshu")
//	...
//	err = reg.Register(ctx, &registry.Instance{
//		ID: "orders-1", Service: "orders",
//		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9000}},
//	})
//	w, err := reg.Watch(ctx, "orders")
//	list, err := w.Next() // the current list, at once
package registry
