// Package etcd is a config.Source over an etcd key, or every key under a prefix, watched
// from the last revision seen and re-read whole after a compaction.
//
// A source reads through an etcd client that its caller owns: a registry/etcd Registry's,
// so that a service that registers and reads its configuration in etcd holds one
// connection, or one from registry/etcd's Dial, which applies the registry's options
// (credentials, TLS, timeouts):
//
//	reg, err := etcd.New(ctx, endpoints) // registry/etcd
//	if err != nil { ... }
//	defer reg.Close()
//	src, err := etcdconfig.New(reg.Client(), "/config/orders.yaml")
//	cfg, err := config.New(ctx, []config.Source{file.New("app.yaml"), src})
//
// These names moved here from registry/etcd, where NewConfigSource, Registry.ConfigSource
// and ConfigSource stay one release as deprecated aliases.
package etcd
