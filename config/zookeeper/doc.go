// Package zookeeper is a config.Source kept in ZooKeeper: one node holding a document
// (Node), or the children of a node, one document each (Tree). Watches are armed on what
// was read, and armed again after a session expiry.
//
// A source reads through the session of a registry/zookeeper Registry, so credentials,
// reconnection and session expiry are handled in one place, and a service that both
// registers and reads its configuration in ZooKeeper holds one session:
//
//	reg, err := zookeeper.New(ctx, []string{"zk1:2181"}, zookeeper.WithAuth(user, pw)) // registry/zookeeper
//	if err != nil { ... }
//	defer reg.Close()
//	src, err := zkconfig.Node(reg, "/config/orders/app.yaml")
//	cfg, err := config.New(ctx, []config.Source{file.New("app.yaml"), src})
//
// These names moved here from registry/zookeeper, where ConfigNode, ConfigTree,
// ConfigSource and WithConfigFormat stay one release as deprecated aliases.
package zookeeper
