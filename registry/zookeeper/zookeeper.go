package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path"
	"sync"
	"sync/atomic"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/internal/zkconn"
	"github.com/tianshu-go/tianshu/registry"
)

// Errors of this package, wrapped with details; test for them with errors.Is.
var (
	// ErrInvalidConfig: New or registry.Open was given options or a URL that cannot work.
	ErrInvalidConfig = zkconn.ErrInvalidConfig
	// ErrNoAuth: ZooKeeper refused access to a node because of its ACL: a wrong password,
	// a user the ACL does not list, or no credentials at all.
	ErrNoAuth = zkconn.ErrNoAuth
)

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

	apps appDiscovery // Dubbo application-level discovery (appdiscover.go)
	app  *appLevel    // nil unless the Dubbo layout registers at application level (applevel.go)
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
		app:      newAppLevel(&o),
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
		r.log.Warn("no ZooKeeper session yet; connecting in the background", "servers", r.servers, "err", err)
		return r, nil
	}
	if err := r.checkRoot(); errors.Is(err, ErrNoAuth) {
		_ = r.Close()
		return nil, err
	} else if err != nil {
		r.log.Warn("cannot prepare the root node; will retry on use", "err", err)
	}
	return r, nil
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
	if r.opts.layout == LayoutDubbo && !r.opts.registerMode.Interface() {
		return r.registerAppOnly(ctx, in)
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
		} else if aerr := r.registerApp(in, false); aerr != nil {
			return aerr
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
	return r.registerApp(in, true)
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
	ready := r.waitReady(ctx)
	appErr := r.deregisterApp(in, ready == nil)
	if err := ready; err != nil {
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
	return errors.Join(append(errs, appErr)...)
}

// getInterface reads the instances of a service from its providers node, sorted by ID. Nodes
// that do not hold a valid instance are skipped and logged once.
func (r *Registry) getInterface(ctx context.Context, service string) ([]*registry.Instance, error) {
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
		r.log.Warn("skipping a provider node that holds no valid instance", "node", p, "err", err)
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

	r.apps.close()
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
