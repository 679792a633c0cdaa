package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/zookeeper/dubbo"
)

// Errors of this package, wrapped with details; test for them with errors.Is.
var (
	// ErrInvalidConfig: New or registry.Open was given options or a URL that cannot work.
	ErrInvalidConfig = errors.New("zookeeper: invalid configuration")
	// ErrNoAuth: ZooKeeper refused access to a node because of its ACL: a wrong password,
	// a user the ACL does not list, or no credentials at all.
	ErrNoAuth = errors.New("zookeeper: not authorized")
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
	dialer         zk.Dialer // tests observe the handshake through it
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

// Registry is a registry.Registry kept in ZooKeeper. Its methods are safe for concurrent use.
// The zero value is not usable; call New.
type Registry struct {
	opts    options
	servers []string
	acl     []zk.ACL
	log     *slog.Logger
	conn    *zk.Conn
	events  <-chan zk.Event // read only at Close, to wait for go-zookeeper's goroutines
	hosts   *hostProvider

	stop chan struct{} // closed by Close
	bg   sync.WaitGroup

	// connected follows go-zookeeper's state (set by the event callback); ready is set by
	// the keeper once the session is authenticated, and gates every operation.
	connected atomic.Bool
	// reached is closed when a server first accepts the connection.
	reached     chan struct{}
	reachedOnce sync.Once
	keepKick    chan struct{}
	readyMu     sync.Mutex
	ready       bool
	readyCh     chan struct{} // closed while ready
	authAdded   bool          // keeper only

	ownMu   sync.Mutex
	own     map[string]*ownNode // by service + "/" + ID
	gone    map[string]bool     // nodes deregistered but not yet deleted
	parents sync.Map            // persistent parents known to exist

	mu      sync.Mutex
	closed  bool
	watches map[string]*serviceWatch // by service

	routeMu sync.RWMutex
	byPath  map[string]*serviceWatch // by providers node path

	badMu sync.Mutex
	bad   map[string]string // node path -> the problem logged for it
}

// ownNode is an instance this Registry registered, and the node that holds it.
type ownNode struct {
	in   *registry.Instance
	name string // node name under the providers node
	path string
	data []byte
}

var (
	_ registry.Registry       = (*Registry)(nil)
	_ registry.HealthReporter = (*Registry)(nil)
)

// New connects to the ZooKeeper ensemble at servers (host:port, port 2181 when omitted) and
// returns a Registry over it. Bad options give ErrInvalidConfig.
//
// New waits about a second for a server to accept the connection. Once one has, it waits
// (at most for ctx and the session timeout) for a session and checks that the root node can
// be read: credentials that ZooKeeper refuses give an error wrapping ErrNoAuth. When no
// server accepts the connection within that second, New returns the Registry anyway, as the
// registry package's contract says: it keeps connecting in the background with the
// WithReconnectBackoff backoff, Healthy reports false, Register keeps the instance and
// creates its node once connected, and Watch starts from an empty list that the watch
// replaces once it can read the service.
func New(ctx context.Context, servers []string, opts ...Option) (*Registry, error) {
	o := options{sessionTimeout: DefaultSessionTimeout, reconnect: defaultReconnect}
	for _, opt := range opts {
		opt(&o)
	}
	if o.root == "" {
		o.root = o.layout.defaultRoot()
	}
	if err := o.check(servers); err != nil {
		return nil, err
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	acl := o.acl
	if acl == nil && o.user != "" {
		acl = zk.DigestACL(zk.PermAll, o.user, o.password)
	}
	if acl == nil {
		acl = zk.WorldACL(zk.PermAll)
	}
	r := &Registry{
		opts:     o,
		servers:  zk.FormatServers(servers),
		acl:      acl,
		log:      o.log.With("registry", "zookeeper", "root", o.root),
		stop:     make(chan struct{}),
		keepKick: make(chan struct{}, 1),
		reached:  make(chan struct{}),
		readyCh:  make(chan struct{}),
		own:      map[string]*ownNode{},
		gone:     map[string]bool{},
		watches:  map[string]*serviceWatch{},
		byPath:   map[string]*serviceWatch{},
		bad:      map[string]string{},
	}
	r.hosts = &hostProvider{policy: o.reconnect, stop: r.stop}
	dialer := o.dialer
	if dialer == nil {
		dialer = net.DialTimeout
	}
	conn, events, err := zk.Connect(r.servers, o.sessionTimeout,
		zk.WithHostProvider(r.hosts),
		zk.WithDialer(dialer),
		zk.WithLogger(zkLogger{log: r.log}),
		zk.WithLogInfo(false),
		zk.WithEventCallback(r.onEvent),
		// ZooKeeper refuses packets over 1 MiB by default; so does the Java client.
		zk.WithMaxBufferSize(4<<20),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	r.conn, r.events = conn, events
	r.bg.Add(1)
	go r.keep()

	if err := r.waitOpen(ctx); err != nil {
		r.log.Warn("no ZooKeeper session yet; connecting in the background", "servers", r.servers, "error", err)
		return r, nil
	}
	if err := r.checkRoot(); errors.Is(err, ErrNoAuth) {
		_ = r.Close()
		return nil, err
	} else if err != nil {
		r.log.Warn("cannot prepare the root node; will retry on use", "error", err)
	}
	return r, nil
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
	if err := checkPath(o.root); err != nil {
		return fmt.Errorf("%w: root %q: %w", ErrInvalidConfig, o.root, err)
	}
	switch {
	case o.sessionTimeout <= 0:
		return fmt.Errorf("%w: session timeout %v must be positive", ErrInvalidConfig, o.sessionTimeout)
	case o.layout != LayoutTianshu && o.layout != LayoutDubbo:
		return fmt.Errorf("%w: unknown layout %v", ErrInvalidConfig, o.layout)
	case o.user == "" && o.password != "":
		return fmt.Errorf("%w: a password without a user", ErrInvalidConfig)
	case strings.Contains(o.user, ":"):
		return fmt.Errorf("%w: user %q has a colon, which the digest scheme uses as separator", ErrInvalidConfig, o.user)
	case o.reconnect.Base <= 0 || o.reconnect.Max < o.reconnect.Base:
		return fmt.Errorf("%w: reconnect backoff %v..%v: want 0 < base <= max", ErrInvalidConfig, o.reconnect.Base, o.reconnect.Max)
	}
	return nil
}

// checkPath reports a path ZooKeeper would refuse, or that has an empty segment.
func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") || p == "/" || strings.HasSuffix(p, "/") {
		return errors.New("want an absolute path such as /tianshu, without a trailing slash")
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("segment %q is not a node name", seg)
		}
		for _, c := range seg {
			if c <= 0x1f || c >= 0x7f && c <= 0x9f || c >= 0xd800 && c <= 0xf8ff || c >= 0xfff0 {
				return fmt.Errorf("segment %q has the character %q, which ZooKeeper refuses", seg, c)
			}
		}
	}
	return nil
}

// Root returns the node under which services are stored.
func (r *Registry) Root() string { return r.opts.root }

// Layout returns how instances are stored.
func (r *Registry) Layout() Layout { return r.opts.layout }

// SessionID returns the current ZooKeeper session ID, 0 while there is none.
func (r *Registry) SessionID() int64 { return r.conn.SessionID() }

func (r *Registry) providersPath(service string) string {
	return r.opts.root + "/" + service + "/providers"
}

// onEvent receives every go-zookeeper event. It runs on the library's goroutines and must not
// block: it records state and wakes the keeper or a service's watch.
func (r *Registry) onEvent(ev zk.Event) {
	switch ev.Type {
	case zk.EventSession:
		if ev.State == zk.StateConnected || ev.State == zk.StateHasSession {
			r.reachedOnce.Do(func() { close(r.reached) })
		}
		up := ev.State == zk.StateHasSession
		if r.connected.Swap(up) != up || up {
			if !up {
				r.setReady(false)
			}
			select {
			case r.keepKick <- struct{}{}:
			default:
			}
		}
	case zk.EventNodeChildrenChanged, zk.EventNodeCreated, zk.EventNodeDeleted, zk.EventNodeDataChanged:
		r.route(ev)
	}
}

func (r *Registry) setReady(ready bool) {
	r.readyMu.Lock()
	defer r.readyMu.Unlock()
	if r.ready == ready {
		return
	}
	r.ready = ready
	if ready {
		close(r.readyCh)
	} else {
		r.readyCh = make(chan struct{})
	}
}

// Healthy reports whether the Registry has an authenticated ZooKeeper session. While it has
// none, consumers should keep the lists they have (registry.Failover does).
func (r *Registry) Healthy() bool {
	r.readyMu.Lock()
	defer r.readyMu.Unlock()
	return r.ready
}

// holdWindow is how long after a new session the watches keep instances they no longer find.
// The expiry that ended this Registry's session has most likely ended the providers' sessions
// too, and deleted their nodes; each provider re-creates them once it has a session of its
// own, which a provider reconnecting with the same settings gets within about a session
// timeout, or a round of reconnection backoff (plus go-zookeeper's second) when longer.
func (r *Registry) holdWindow() time.Duration {
	return max(r.opts.sessionTimeout, r.opts.reconnect.Max+time.Second)
}

// openWait is how long New waits for a server to accept the connection (the registry
// package's contract).
const openWait = time.Second

// waitOpen waits for an authenticated session, but gives up after openWait unless a server
// has accepted the connection by then: a session and credentials then follow within the
// session timeout, and New can report refused credentials.
func (r *Registry) waitOpen(ctx context.Context) error {
	t := time.NewTimer(openWait)
	defer t.Stop()
	select {
	case <-r.reached:
		return r.waitReady(ctx)
	case <-t.C:
		select {
		case <-r.reached:
			return r.waitReady(ctx)
		default:
		}
		return fmt.Errorf("%w: no ZooKeeper server of %v accepted a connection within %v", registry.ErrUnavailable, r.servers, openWait)
	case <-ctx.Done():
		return fmt.Errorf("%w: no ZooKeeper session with %v: %w", registry.ErrUnavailable, r.servers, ctx.Err())
	}
}

// waitReady waits for an authenticated session, at most until ctx is done or the session
// timeout passed: beyond that the server is down rather than reconnecting.
func (r *Registry) waitReady(ctx context.Context) error {
	r.readyMu.Lock()
	ready, ch := r.ready, r.readyCh
	r.readyMu.Unlock()
	if ready {
		return nil
	}
	t := time.NewTimer(r.opts.sessionTimeout)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-r.stop:
		return registry.ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("%w: no ZooKeeper session with %v: %w", registry.ErrUnavailable, r.servers, ctx.Err())
	case <-t.C:
		return fmt.Errorf("%w: no ZooKeeper session with %v within %v", registry.ErrUnavailable, r.servers, r.opts.sessionTimeout)
	}
}

func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// keep runs for the life of the Registry. Whenever a session is established (the first, a
// reconnection, or a new one after expiry) it re-sends the credentials if the library does
// not know them yet, re-creates this Registry's ephemeral nodes where they are missing or
// belong to an older session, deletes nodes deregistered while disconnected, and makes every
// watched service re-read its providers and re-arm its watches. Failures are retried with
// capped backoff while the session lasts.
func (r *Registry) keep() {
	defer r.bg.Done()
	var session int64
	wasUp, pending, attempt := false, false, 0
	for {
		if !pending {
			select {
			case <-r.stop:
				return
			case <-r.keepKick:
			}
		}
		pending = false
		if !r.connected.Load() {
			r.setReady(false)
			if wasUp {
				r.log.Warn("lost the ZooKeeper connection; consumers keep their lists, reconnecting", "servers", r.servers)
			}
			wasUp, attempt = false, 0
			continue
		}
		sid := r.conn.SessionID()
		switch {
		case session != 0 && sid != session:
			r.log.Warn("ZooKeeper session expired; re-creating nodes and watches in a new session",
				"old_session", fmt.Sprintf("%#x", session), "session", fmt.Sprintf("%#x", sid))
		case !wasUp:
			r.log.Info("connected to ZooKeeper", "session", fmt.Sprintf("%#x", sid))
		}
		wasUp = true
		if err := r.resync(sid); err != nil {
			if r.isClosed() {
				return
			}
			if !r.connected.Load() {
				continue // the reconnection will kick again
			}
			r.log.Warn("cannot restore state in the ZooKeeper session; retrying", "attempt", attempt+1, "error", err)
			t := time.NewTimer(backoff.Default.Delay(attempt))
			select {
			case <-r.stop:
				t.Stop()
				return
			case <-r.keepKick:
				t.Stop()
			case <-t.C:
			}
			attempt++
			pending = true
			continue
		}
		session, attempt = sid, 0
	}
}

func (r *Registry) resync(sid int64) error {
	if r.opts.user != "" && !r.authAdded {
		if err := r.conn.AddAuth("digest", []byte(r.opts.user+":"+r.opts.password)); err != nil {
			return fmt.Errorf("send credentials: %w", err)
		}
		r.authAdded = true
	}
	if !r.connected.Load() {
		return errors.New("connection lost")
	}
	r.setReady(true)
	var errs []error
	r.ownMu.Lock()
	keys := make([]string, 0, len(r.own))
	for k := range r.own {
		keys = append(keys, k)
	}
	gone := make([]string, 0, len(r.gone))
	for p := range r.gone {
		gone = append(gone, p)
	}
	r.ownMu.Unlock()
	for _, k := range keys {
		r.ownMu.Lock()
		if n := r.own[k]; n != nil {
			if err := r.ensureNode(n, sid); err != nil {
				errs = append(errs, err)
			}
		}
		r.ownMu.Unlock()
	}
	for _, p := range gone {
		r.ownMu.Lock()
		if r.gone[p] {
			if err := r.conn.Delete(p, -1); err == nil || errors.Is(err, zk.ErrNoNode) {
				delete(r.gone, p)
			} else {
				errs = append(errs, r.wrapErr("delete", p, err))
			}
		}
		r.ownMu.Unlock()
	}
	r.mu.Lock()
	for _, sw := range r.watches {
		sw.markFull()
	}
	r.mu.Unlock()
	return errors.Join(errs...)
}

// ensureNode makes n's node exist with n's data and belong to session sid. A node left by an
// older session of this process (or by anyone else) is replaced: between a session's expiry
// and the server's clean-up, the old node may still be there, and would vanish later.
// The caller holds ownMu.
func (r *Registry) ensureNode(n *ownNode, sid int64) error {
	for range 5 {
		_, err := r.conn.Create(n.path, n.data, zk.FlagEphemeral, r.acl)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, zk.ErrNoNode):
			if err := r.ensureParents(path.Dir(n.path)); err != nil {
				return err
			}
			continue
		case !errors.Is(err, zk.ErrNodeExists):
			return r.wrapErr("create", n.path, err)
		}
		data, st, err := r.conn.Get(n.path)
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return r.wrapErr("read", n.path, err)
		}
		if st.EphemeralOwner == sid {
			if bytes.Equal(data, n.data) {
				return nil
			}
			_, err := r.conn.Set(n.path, n.data, st.Version)
			if err == nil {
				return nil
			}
			if !errors.Is(err, zk.ErrBadVersion) && !errors.Is(err, zk.ErrNoNode) {
				return r.wrapErr("update", n.path, err)
			}
			continue
		}
		r.log.Info("replacing a node left by another session", "node", n.path,
			"owner", fmt.Sprintf("%#x", st.EphemeralOwner), "session", fmt.Sprintf("%#x", sid))
		if err := r.conn.Delete(n.path, st.Version); err != nil && !errors.Is(err, zk.ErrNoNode) && !errors.Is(err, zk.ErrBadVersion) {
			return r.wrapErr("delete stale", n.path, err)
		}
	}
	return fmt.Errorf("zookeeper: create %s: %w: the node kept changing under us", n.path, registry.ErrUnavailable)
}

// ensureParents creates p and its ancestors as persistent nodes where missing.
func (r *Registry) ensureParents(p string) error {
	if _, ok := r.parents.Load(p); ok {
		// Known to exist, yet a create under it failed: someone removed it.
		r.parents.Delete(p)
	}
	var missing []string
	for q := p; q != "/"; q = path.Dir(q) {
		if _, ok := r.parents.Load(q); ok {
			break
		}
		missing = append(missing, q)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		q := missing[i]
		_, err := r.conn.Create(q, nil, 0, r.acl)
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return r.wrapErr("create parent", q, err)
		}
		r.parents.Store(q, true)
	}
	return nil
}

// checkRoot creates the root node if needed and reads it, so that refused credentials show
// at New rather than at the first Register.
func (r *Registry) checkRoot() error {
	if err := r.ensureParents(r.opts.root); err != nil {
		return err
	}
	_, _, err := r.conn.Children(r.opts.root)
	return r.wrapErr("read", r.opts.root, err)
}

// Register creates the instance's ephemeral node, or updates it, and keeps it for the life
// of the Registry: after a session expiry it is created again in the new session. The
// Registry keeps a copy of in.
//
// When ZooKeeper cannot be reached within ctx (and the session timeout) the error wraps
// registry.ErrUnavailable, and the Registry still creates the node as soon as it has a
// session again, unless Deregister or Close comes first. ACL refusals wrap ErrNoAuth, and
// the instance is then dropped.
func (r *Registry) Register(ctx context.Context, in *registry.Instance) error {
	if err := in.Validate(); err != nil {
		return err
	}
	in = in.Clone()
	key := in.Service + "/" + in.ID
	r.ownMu.Lock()
	defer r.ownMu.Unlock()
	if r.isClosed() {
		return fmt.Errorf("zookeeper: register %q of %q: %w", in.ID, in.Service, registry.ErrClosed)
	}
	prev := r.own[key]
	name, data, err := r.opts.layout.encodeNode(in, prev, r.opts.publish)
	if err != nil {
		return err
	}
	n := &ownNode{in: in, name: name, data: data}
	n.path = r.providersPath(in.Service) + "/" + name
	r.own[key] = n
	delete(r.gone, n.path)
	if prev != nil && prev.path != n.path {
		r.gone[prev.path] = true
	}
	// ownMu is held while waiting: the keeper cannot create the node meanwhile anyway.
	if err := r.waitReady(ctx); err != nil {
		if errors.Is(err, registry.ErrClosed) {
			delete(r.own, key)
		}
		return fmt.Errorf("zookeeper: register %q of %q (kept, to be created once connected): %w", in.ID, in.Service, err)
	}
	if err := r.ensureNode(n, r.conn.SessionID()); err != nil {
		if errors.Is(err, ErrNoAuth) {
			delete(r.own, key)
			if prev != nil {
				r.own[key] = prev
				delete(r.gone, prev.path)
			}
		}
		return err
	}
	if prev != nil && prev.path != n.path {
		if err := r.conn.Delete(prev.path, -1); err == nil || errors.Is(err, zk.ErrNoNode) {
			delete(r.gone, prev.path)
		}
	}
	return nil
}

// Deregister deletes the instance's node, wherever it was registered from, and stops
// keeping it if this Registry registered it. Deleting a node that is not there is not an
// error. When ZooKeeper cannot be reached the error wraps registry.ErrUnavailable and the
// node is deleted once the Registry has a session again (or vanishes with the old session).
func (r *Registry) Deregister(ctx context.Context, in *registry.Instance) error {
	if err := in.ValidateKey(); err != nil {
		return err
	}
	r.ownMu.Lock()
	defer r.ownMu.Unlock()
	if r.isClosed() {
		return fmt.Errorf("zookeeper: deregister %q of %q: %w", in.ID, in.Service, registry.ErrClosed)
	}
	key := in.Service + "/" + in.ID
	var paths []string
	if n := r.own[key]; n != nil {
		delete(r.own, key)
		paths = append(paths, n.path)
		r.gone[n.path] = true
	}
	if err := r.waitReady(ctx); err != nil {
		return fmt.Errorf("zookeeper: deregister %q of %q (to be deleted once connected): %w", in.ID, in.Service, err)
	}
	// Nodes of the instance registered elsewhere: in the Tianshu layout the name is the ID;
	// in the Dubbo layout it must be found among the providers.
	parent := r.providersPath(in.Service)
	if r.opts.layout == LayoutTianshu {
		if p := parent + "/" + in.ID; len(paths) == 0 {
			paths = append(paths, p)
		}
	} else {
		children, _, err := r.conn.Children(parent)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return r.wrapErr("list", parent, err)
		}
		for _, c := range children {
			if got, _, err := r.opts.layout.decodeNode(in.Service, c, nil); err == nil && got.ID == in.ID {
				if p := parent + "/" + c; len(paths) == 0 || paths[0] != p {
					paths = append(paths, p)
				}
			}
		}
	}
	var errs []error
	for _, p := range paths {
		err := r.conn.Delete(p, -1)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			errs = append(errs, r.wrapErr("delete", p, err))
			continue
		}
		delete(r.gone, p)
	}
	return errors.Join(errs...)
}

// GetService reads the instances of a service from ZooKeeper, sorted by ID. Nodes that do not
// hold a valid instance are skipped and logged once.
func (r *Registry) GetService(ctx context.Context, service string) ([]*registry.Instance, error) {
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, fmt.Errorf("zookeeper: get %q: %w", service, registry.ErrClosed)
	}
	if err := r.waitReady(ctx); err != nil {
		return nil, fmt.Errorf("zookeeper: get %q: %w", service, err)
	}
	parent := r.providersPath(service)
	children, _, err := r.conn.Children(parent)
	if errors.Is(err, zk.ErrNoNode) {
		return []*registry.Instance{}, nil
	}
	if err != nil {
		return nil, r.wrapErr("list", parent, err)
	}
	nodes := make(map[string]*node, len(children))
	for _, c := range children {
		n, err := r.readNode(service, parent, c, false)
		if err != nil {
			return nil, err
		}
		if n != nil {
			nodes[c] = n
		}
	}
	r.forgetBad(parent, nodes)
	return dedupe(nodes), nil
}

// readNode reads one child of a providers node, and sets a data watch when watch is set. It
// returns nil, nil for a node that disappeared.
func (r *Registry) readNode(service, parent, name string, watch bool) (*node, error) {
	p := parent + "/" + name
	var data []byte
	var version int32
	if r.opts.layout.needsData() {
		var st *zk.Stat
		var err error
		if watch {
			data, st, _, err = r.conn.GetW(p)
		} else {
			data, st, err = r.conn.Get(p)
		}
		if errors.Is(err, zk.ErrNoNode) {
			return nil, nil
		}
		if err != nil {
			return nil, r.wrapErr("read", p, err)
		}
		version = st.Version
	}
	in, rank, err := r.opts.layout.decodeNode(service, name, data)
	if err != nil {
		r.logBad(p, version, err)
		return &node{name: name}, nil
	}
	return &node{name: name, in: in, rank: rank}, nil
}

// logBad logs a node that holds no valid instance, once per node and version.
func (r *Registry) logBad(p string, version int32, err error) {
	problem := fmt.Sprintf("v%d: %v", version, err)
	r.badMu.Lock()
	seen := r.bad[p] == problem
	r.bad[p] = problem
	r.badMu.Unlock()
	if !seen {
		r.log.Warn("skipping a provider node that holds no valid instance", "node", p, "error", err)
	}
}

// forgetBad drops the logged problems of parent's children that are gone or fixed.
func (r *Registry) forgetBad(parent string, nodes map[string]*node) {
	r.badMu.Lock()
	defer r.badMu.Unlock()
	for p := range r.bad {
		if path.Dir(p) != parent {
			continue
		}
		if n, ok := nodes[path.Base(p)]; !ok || n.in != nil {
			delete(r.bad, p)
		}
	}
}

// Close stops the watchers, closes the ZooKeeper session (which deletes this Registry's
// ephemeral nodes at once) and waits for every goroutine the Registry started. Later calls
// of other methods return registry.ErrClosed; a second Close returns nil.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	watches := r.watches
	r.watches = map[string]*serviceWatch{}
	r.mu.Unlock()

	close(r.stop)
	for _, sw := range watches {
		sw.bc.Close()
	}
	r.ownMu.Lock()
	clear(r.own)
	clear(r.gone)
	r.ownMu.Unlock()
	r.conn.Close()
	for range r.events {
		// The channel closes when go-zookeeper's connection loop has ended.
	}
	r.bg.Wait()
	return nil
}
