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
