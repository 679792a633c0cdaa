package zookeeper

import (
	"github.com/tianshu-go/tianshu/config"
	zkconfig "github.com/tianshu-go/tianshu/config/zookeeper"
	"github.com/tianshu-go/tianshu/internal/zkconn"
)

// ConfigSession returns the Registry's session as package config/zookeeper reads through
// it; pass the Registry to zkconfig.Node or zkconfig.Tree rather than call it.
func (r *Registry) ConfigSession() *zkconn.Session {
	return &zkconn.Session{
		Conn:          r.conn,
		ACL:           r.acl,
		User:          r.opts.user,
		Log:           r.log,
		Closed:        r.stop,
		WaitReady:     r.waitReady,
		EnsureParents: r.ensureParents,
	}
}

// ConfigSource is a config source kept in ZooKeeper.
//
// Deprecated: use Source of package config/zookeeper; this alias goes in the next release.
type ConfigSource = zkconfig.Source

// ConfigOption configures a ConfigSource.
//
// Deprecated: use Option of package config/zookeeper.
type ConfigOption = zkconfig.Option

// WithConfigFormat sets the format of every document of the source.
//
// Deprecated: use config/zookeeper.WithFormat.
func WithConfigFormat(f config.Format) ConfigOption { return zkconfig.WithFormat(f) }

// ConfigNode returns a source holding the data of the node at path as one document.
//
// Deprecated: use config/zookeeper.Node(r, path).
func (r *Registry) ConfigNode(path string, opts ...ConfigOption) (*ConfigSource, error) {
	return zkconfig.Node(r, path, opts...)
}

// ConfigTree returns a source holding one document per child of the node at path.
//
// Deprecated: use config/zookeeper.Tree(r, path).
func (r *Registry) ConfigTree(path string, opts ...ConfigOption) (*ConfigSource, error) {
	return zkconfig.Tree(r, path, opts...)
}
