package zookeeper

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/announce"
	"github.com/tianshu-go/tianshu/registry"
)

var _ dubbo.ConsumerRegistrar = (*Registry)(nil)

// RegisterConsumer lists a Dubbo consumer as a Java Dubbo consumer lists itself: an
// ephemeral child of /dubbo/<interface>/consumers named by its URL-encoded URL, holding the
// consumer's IP as Curator's default data does (see dubbo.Consumer.URL). rpc.Dial calls it
// for a connection with rpc.WithDubbo. The application is WithDubboPublish's when c names
// none, the host this host's first non-loopback IPv4 address. In the Tianshu layout it
// does nothing.
//
// Like Register's nodes, the entry is kept for the life of the Registry, created again in
// a new session, and created once connected when ZooKeeper cannot be reached now (the
// error then wraps registry.ErrUnavailable). deregister deletes it; two consumers with the
// same URL share one node, deleted with the last of them.
func (r *Registry) RegisterConsumer(ctx context.Context, c dubbo.Consumer) (deregister func(), err error) {
	if r.opts.layout != LayoutDubbo {
		return func() {}, nil
	}
	if c.Application == "" {
		c.Application = r.opts.publish.Application
	}
	if c.Host == "" {
		c.Host = announce.OutboundIP()
	}
	u, err := c.URL()
	if err != nil {
		return nil, fmt.Errorf("zookeeper: register consumer: %w", err)
	}
	n := &ownNode{name: u.NodeName(), data: []byte(c.Host)}
	n.path = r.opts.root + "/" + c.Interface + "/consumers/" + n.name
	key := fmt.Sprintf("consumer %p", n) // unique while n is kept
	r.ownMu.Lock()
	defer r.ownMu.Unlock()
	if r.isClosed() {
		return nil, fmt.Errorf("zookeeper: register consumer of %q: %w", c.Interface, registry.ErrClosed)
	}
	r.own[key] = n
	delete(r.gone, n.path)
	deregister = func() { r.dropConsumer(key, n) }
	if !r.Healthy() {
		// The keeper creates it with the session; Dial must not wait for ZooKeeper.
		return deregister, fmt.Errorf("zookeeper: register consumer of %q (kept, to be created once connected): %w", c.Interface, registry.ErrUnavailable)
	}
	if err := r.ensureNode(n, r.conn.SessionID()); err != nil {
		if errors.Is(err, ErrNoAuth) {
			delete(r.own, key)
			return nil, err
		}
		return deregister, err
	}
	return deregister, nil
}

// dropConsumer forgets a consumer entry and deletes its node, unless another consumer
// registered the same node. A node it cannot delete now is deleted by the keeper once
// connected, or vanishes with the session.
func (r *Registry) dropConsumer(key string, n *ownNode) {
	r.ownMu.Lock()
	defer r.ownMu.Unlock()
	if r.own[key] != n {
		return // deregistered already, or the Registry is closed
	}
	delete(r.own, key)
	for _, o := range r.own {
		if o.path == n.path {
			return
		}
	}
	if r.Healthy() {
		if err := r.conn.Delete(n.path, -1); err == nil || errors.Is(err, zk.ErrNoNode) {
			return
		}
	}
	r.gone[n.path] = true
}
