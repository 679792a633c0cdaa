package zookeeper

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/internal/zkconn"
	"github.com/tianshu-go/tianshu/registry"
)

// DefaultSessionTimeout is the session timeout unless WithSessionTimeout says otherwise. A
// provider that dies leaves consumers' lists within about this time; a provider cut off
// from ZooKeeper for longer loses its session, and re-registers once it is back.
const DefaultSessionTimeout = 10 * time.Second

// defaultReconnect is the backoff between rounds of reconnection attempts, on top of the
// fixed second go-zookeeper waits: rounds come 1.1 s to 10 s apart.
var defaultReconnect = backoff.Policy{Base: 100 * time.Millisecond, Max: 9 * time.Second}

// Option configures New.
type Option func(*options)

type options struct {
	root           string
	sessionTimeout time.Duration
	layout         Layout
	user, password string
	acl            []zk.ACL
	log            *slog.Logger
	reconnect      backoff.Policy
	publish        dubbo.Publish
	registerMode   dubbo.RegisterMode
	dialer         zk.Dialer // tests observe the handshake through it

	discovery dubbo.DiscoveryMode // WithDubboDiscovery, appdiscover.go
}

// WithRoot sets the node under which services are stored; the default is /tianshu, or
// /dubbo with LayoutDubbo.
func WithRoot(root string) Option { return func(o *options) { o.root = root } }

// WithSessionTimeout sets the ZooKeeper session timeout (default DefaultSessionTimeout). The
// server clamps it to between 2 and 20 of its ticks (4 s to 40 s with default settings).
func WithSessionTimeout(d time.Duration) Option { return func(o *options) { o.sessionTimeout = d } }

// WithLayout selects how instances are stored; the default is LayoutTianshu.
func WithLayout(l Layout) Option { return func(o *options) { o.layout = l } }

// WithDubboPublish sets what the Dubbo layout writes into provider URLs beyond the instance
// (the application name, the method list, the release).
func WithDubboPublish(p dubbo.Publish) Option { return func(o *options) { o.publish = p } }

// WithAuth authenticates the session with ZooKeeper's digest scheme as user:password, and
// protects the nodes the Registry creates with a digest ACL that gives that user every
// permission and nobody else any (see WithACL to share them). go-zookeeper sends the
// credentials again after every reconnection.
func WithAuth(user, password string) Option {
	return func(o *options) { o.user, o.password = user, password }
}

// WithACL sets the ACL of the nodes the Registry creates, replacing the default (world:anyone
// with every permission, or the digest ACL of WithAuth). For example, to let every consumer
// read what only the provider's user may change:
//
//	zookeeper.WithACL(append(zk.DigestACL(zk.PermAll, "ops", pw), zk.WorldACL(zk.PermRead)...)...)
func WithACL(acl ...zk.ACL) Option { return func(o *options) { o.acl = acl } }

// WithLogger sets the logger; the default is slog.Default(). The Registry logs each change
// of connection state and each skipped node once; go-zookeeper's own messages go to it at
// debug level.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithReconnectBackoff sets the capped exponential backoff (with jitter) between rounds of
// reconnection attempts over the server list, added to the second go-zookeeper waits. The
// default grows from 100 ms to 9 s.
func WithReconnectBackoff(base, max time.Duration) Option {
	return func(o *options) { o.reconnect = backoff.Policy{Base: base, Max: max} }
}

func (o *options) check(servers []string) error {
	if len(servers) == 0 {
		return fmt.Errorf("%w: no ZooKeeper server given", ErrInvalidConfig)
	}
	for _, s := range servers {
		// The same host rules as a zookeeper:// URL (registry.ParseHostList), so that New
		// refuses what Open refuses: an empty host, a port out of range.
		if s == "" || strings.ContainsAny(s, " /,") {
			return fmt.Errorf("%w: server %q: want host:port", ErrInvalidConfig, s)
		}
		if _, err := registry.ParseHostList(s, DefaultPort); err != nil {
			return fmt.Errorf("%w: server %q: %w", ErrInvalidConfig, s, err)
		}
	}
	if err := zkconn.CheckPath(o.root); err != nil {
		return fmt.Errorf("%w: root %q: %w", ErrInvalidConfig, o.root, err)
	}
	switch {
	case o.sessionTimeout <= 0:
		return fmt.Errorf("%w: session timeout %v must be positive", ErrInvalidConfig, o.sessionTimeout)
	case o.layout != LayoutTianshu && o.layout != LayoutDubbo:
		return fmt.Errorf("%w: unknown layout %v", ErrInvalidConfig, o.layout)
	case o.registerMode.Check() != nil:
		return fmt.Errorf("%w: %w", ErrInvalidConfig, o.registerMode.Check())
	case o.user == "" && o.password != "":
		return fmt.Errorf("%w: a password without a user", ErrInvalidConfig)
	case strings.Contains(o.user, ":"):
		return fmt.Errorf("%w: user %q has a colon, which the digest scheme uses as separator", ErrInvalidConfig, o.user)
	case o.reconnect.Base <= 0 || o.reconnect.Max < o.reconnect.Base:
		return fmt.Errorf("%w: reconnect backoff %v..%v: want 0 < base <= max", ErrInvalidConfig, o.reconnect.Base, o.reconnect.Max)
	}
	return o.checkDiscovery()
}
