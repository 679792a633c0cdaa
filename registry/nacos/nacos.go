package nacos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/tianshu-go/tianshu/registry"
)

// Registry is a registry.Registry over a Nacos 2 server. Registries opened with the same
// servers, namespace, credentials and directory share one SDK client (see the package
// documentation); each Registry registers, watches and closes on its own.
type Registry struct {
	o options
	n *namingClient

	mu       sync.Mutex
	closed   bool
	watchers map[*watcher]struct{}

	consumers consumerSet  // Dubbo consumer entries (consumers.go)
	apps      appDiscovery // Dubbo application-level discovery (appdiscover.go)
	app       *appLevel    // nil unless WithDubboNaming registers at application level (applevel.go)
}

var (
	_ registry.Registry       = (*Registry)(nil)
	_ registry.HealthReporter = (*Registry)(nil)
)

// New opens a Registry on the Nacos servers at the given host:port addresses (the HTTP port;
// the SDK speaks gRPC on port+1000). It returns without waiting for a connection: a server
// that is down is retried in the background and Register reports ErrUnavailable meanwhile.
// Wrong credentials (WithAuth) give ErrUnauthorized when the server can be asked.
func New(ctx context.Context, servers []string, opts ...Option) (*Registry, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	n, err := acquireNaming(ctx, &o, servers)
	if err != nil {
		return nil, err
	}
	r := &Registry{o: o, n: n, watchers: map[*watcher]struct{}{}, app: newAppLevel(&o, servers)}
	r.apps.servers = slices.Clone(servers)
	return r, nil
}

func (r *Registry) key(service string) svcKey {
	return svcKey{group: r.o.group, name: r.o.nacosName(service)}
}

func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Register announces an instance as an ephemeral Nacos instance (kept while this process's
// connection lives) in the Registry's group and cluster. Fields Nacos has no place for (ID,
// version, zone, every endpoint) travel as metadata under the Meta* keys; the primary
// endpoint (the first gRPC one, else the first) is the Nacos ip:port, which must be unique
// within the service and cluster.
//
// If the server cannot be reached the error wraps registry.ErrUnavailable, and the instance
// stays registered locally: the SDK re-sends it when it reconnects and the Registry retries
// with capped backoff until it is accepted, Deregister or Close.
func (r *Registry) Register(ctx context.Context, in *registry.Instance) error {
	if err := in.Validate(); err != nil {
		return err
	}
	if r.isClosed() {
		return registry.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.o.dubbo == nil || r.o.registerMode.Interface() {
		h, err := toNacos(in, r.o.cluster, r.o.dubboParams(in))
		if err != nil {
			return err
		}
		if err := r.n.put(r.key(in.Service), r, in.ID, h); err != nil {
			return err
		}
	}
	return r.registerApp(ctx, in)
}

// Deregister removes an instance this Registry registered; others are left alone and give
// nil.
func (r *Registry) Deregister(ctx context.Context, in *registry.Instance) error {
	if err := in.ValidateKey(); err != nil {
		return err
	}
	if r.isClosed() {
		return registry.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := r.n.remove(r.key(in.Service), r, in.ID)
	return errors.Join(err, r.deregisterApp(in))
}

// getInterface returns the usable (enabled, healthy, positive weight) instances of a service,
// sorted by ID. Entries that cannot be read as instances are skipped and logged once.
// Reading a service subscribes to it for the life of the shared client, as the SDK does.
func (r *Registry) getInterface(ctx context.Context, service string) ([]*registry.Instance, error) {
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, registry.ErrClosed
	}
	sub, err := r.n.subscribe(r.key(service), service, r.o.clusters)
	if err != nil {
		return nil, err
	}
	return slices.Clone(sub.bc.Get()), nil
}

// watchInterface follows a service. The first Next returns the current list at once, even when
// it is empty or equal to what the SDK has cached; an empty list is delivered when the last
// instance leaves. While the server cannot be reached the watcher starts from an empty list,
// and the SDK's subscription, renewed when it connects, delivers the service's list, as the
// registry package's contract says.
func (r *Registry) watchInterface(ctx context.Context, service string) (registry.Watcher, error) {
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sub, err := r.n.subscribe(r.key(service), service, r.o.clusters)
	if err != nil && (sub == nil || !errors.Is(err, registry.ErrUnavailable)) {
		return nil, err
	}
	w := &watcher{r: r}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, registry.ErrClosed
	}
	w.Watcher = sub.bc.Watch(w.forget)
	r.watchers[w] = struct{}{}
	return w, nil
}

// Healthy reports whether the SDK is connected to a server.
func (r *Registry) Healthy() bool { return !r.isClosed() && r.n.cli.ServerHealthy() }

// Close deregisters every instance this Registry registered, stops its watchers and releases
// the shared SDK client, which is closed with its last user. It is idempotent.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	ws := make([]*watcher, 0, len(r.watchers))
	for w := range r.watchers {
		ws = append(ws, w)
	}
	r.mu.Unlock()
	for _, w := range ws {
		_ = w.Stop()
	}
	r.apps.close()
	err := r.n.dropOwner(r)
	r.app.close()
	r.n.release()
	return err
}

// watcher is a Broadcast watcher that its Registry can stop.
type watcher struct {
	registry.Watcher
	r *Registry
}

func (w *watcher) forget() {
	w.r.mu.Lock()
	delete(w.r.watchers, w)
	w.r.mu.Unlock()
}

// subscription is one SDK subscription to a Nacos service, read as the Tianshu service
// name it was asked for and filtered by cluster, feeding every watcher of that name and
// filter.
type subscription struct {
	n        *namingClient
	key      svcKey
	service  string
	clusters []string // sorted; nil: every cluster
	param    *vo.SubscribeParam
	bc       *registry.Broadcast

	made  chan struct{} // closed once the SDK subscription was asked for
	mu    sync.Mutex    // orders the first read against the SDK's callbacks
	ready bool
	bad   map[string]bool // entries already logged as unreadable

	// The hold after a reconnection (reconnect.go), under mu.
	hosts     []model.Instance // the last list from the SDK
	holdUntil time.Time
	release   *time.Timer
	kept      int // instances kept in the list published
}

type subKey struct {
	svcKey
	service  string
	clusters string // the cluster filter, joined
}

// subscribe returns the subscription for a service, making it if needed, with its current
// list read. When that read fails it returns the subscription too, still unread (its list
// empty), with the error. No lock is held across an SDK call: the SDK may run callbacks
// (which take sub.mu) on the calling goroutine.
func (n *namingClient) subscribe(k svcKey, service string, clusters []string) (*subscription, error) {
	sk := subKey{k, service, strings.Join(clusters, ",")}
	n.mu.Lock()
	sub, ok := n.subs[sk]
	if !ok {
		sub = &subscription{n: n, key: k, service: service, clusters: clusters, bc: registry.NewBroadcast(nil),
			bad: map[string]bool{}, made: make(chan struct{})}
		sub.param = &vo.SubscribeParam{ServiceName: k.name, GroupName: k.group, SubscribeCallback: sub.callback}
		n.subs[sk] = sub
	}
	n.mu.Unlock()
	if !ok {
		// The SDK registers the callback before it asks the server, and subscribes again by
		// itself after a reconnect, so a failure here needs no undoing: the read below
		// decides whether the subscription is ready.
		if err := n.cli.Subscribe(sub.param); err != nil {
			n.log.Debug("nacos: subscribe failed; the SDK retries on reconnect", "service", k.name, "err", err)
		}
		close(sub.made)
	}
	<-sub.made
	sub.mu.Lock()
	ready := sub.ready
	sub.mu.Unlock()
	if ready {
		return sub, nil
	}
	// The SDK calls back only when a list differs from its cache, so the first list is read
	// rather than awaited. The first read fills the cache (asking the server if needed); the
	// second, under sub.mu, is a cache hit that runs no callback. The SDK writes its cache
	// before it runs callbacks, and callbacks take sub.mu, so the list read under the lock is
	// never older than one a callback already delivered.
	param := vo.GetServiceParam{ServiceName: k.name, GroupName: k.group}
	if _, err := n.cli.GetService(param); err != nil {
		return sub, fmt.Errorf("nacos: read service %s@@%s: %w", k.group, k.name, classify(err))
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if !sub.ready {
		svc, err := n.cli.GetService(param)
		if err != nil {
			return sub, fmt.Errorf("nacos: read service %s@@%s: %w", k.group, k.name, classify(err))
		}
		sub.setLocked(svc.Hosts)
		sub.ready = true
	}
	return sub, nil
}

func (s *subscription) callback(hosts []model.Instance, err error) {
	if err != nil {
		return
	}
	redo := calledOnReconnect()
	s.mu.Lock()
	defer s.mu.Unlock()
	if redo && s.ready {
		s.holdLocked()
	}
	s.setLocked(hosts)
}

// inClusters says whether h is in one of the clusters the subscription lists.
func (s *subscription) inClusters(h model.Instance) bool {
	if s.clusters == nil {
		return true
	}
	c := h.ClusterName
	if c == "" {
		c = DefaultCluster
	}
	_, found := slices.BinarySearch(s.clusters, c)
	return found
}

func (s *subscription) setLocked(hosts []model.Instance) {
	list := make([]*registry.Instance, 0, len(hosts))
	seen := map[string]bool{}
	for _, h := range hosts {
		if !usable(h) || !s.inClusters(h) {
			continue
		}
		in, err := fromNacos(s.service, h)
		if err != nil {
			if k := addrKey(h); !s.bad[k] {
				s.bad[k] = true
				s.n.log.Warn("nacos: skipping an instance that cannot be read", "service", s.service, "address", k, "err", err)
			}
			continue
		}
		if seen[in.ID] {
			continue // the same ID twice (a stale copy on another address): keep the first
		}
		seen[in.ID] = true
		list = append(list, in)
	}
	s.hosts = hosts
	s.bc.Set(s.keepMissingLocked(list))
}
