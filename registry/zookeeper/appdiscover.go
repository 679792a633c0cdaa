package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/internal/zkconn"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/internal/appdiscover"
)

// DubboServicesRoot is the node under which Dubbo 3 providers announce their application
// instances, /services/<application>/<host:port> (Dubbo's default).
const DubboServicesRoot = "/services"

// WithDubboDiscovery says where a consumer in LayoutDubbo looks for the providers of an
// interface: dubbo.DiscoverAll (the default) reads the providers registered at interface
// level and those found at application level (the interface's mapping
// <root>/mapping/<interface>, the instances under DubboServicesRoot and the metadata each
// instance's MetadataServiceV2 serves) and merges them; dubbo.DiscoverInterface reads the
// interface level only, dubbo.DiscoverApplication the application level only. A mode out of
// range makes New fail with ErrInvalidConfig. The Tianshu layout ignores it.
func WithDubboDiscovery(m dubbo.DiscoveryMode) Option {
	return func(o *options) { o.discovery = m }
}

// appDiscovery is a Registry's application-level discovery, started with the first watch of
// an interface (appdiscover does the resolving; this file is its ZooKeeper I/O).
type appDiscovery struct {
	once sync.Once
	d    *appdiscover.Discoverer
	r    *Registry
	kick chan struct{}

	mu      sync.Mutex
	follows map[string]*follow // by node path: a mapping, or an application's instances
	session int64              // of the last resync
}

// follow is one node the application-level discovery reads and watches.
type follow struct {
	path    string
	mapping bool // the mapping's data; else an application node's children and their data
	set     func(any)

	// Under appDiscovery.mu.
	full    bool
	dirty   map[string]bool               // children whose data changed
	nodes   map[string]*dubbo.AppInstance // children as last read; nil for garbage
	stopped bool
	last    []dubbo.AppInstance // the instances last set
	// For a while after a new session, the instances last set before it that the reads no
	// longer find, and the end of that while (see serviceWatch.publish for why).
	held      []dubbo.AppInstance
	holdUntil time.Time
}

func (r *Registry) appLevel() bool {
	return r.opts.layout == LayoutDubbo && r.opts.discovery != dubbo.DiscoverInterface
}

// discoverer starts the application-level discovery once.
func (a *appDiscovery) discoverer(r *Registry) *appdiscover.Discoverer {
	a.once.Do(func() {
		a.mu.Lock()
		a.r, a.kick, a.follows = r, make(chan struct{}, 1), map[string]*follow{}
		a.session = r.conn.SessionID()
		a.mu.Unlock()
		cache, err := metadataservice.NewCache(metadataservice.WithCacheLogger(r.log))
		if err != nil {
			panic(err) // the defaults are valid
		}
		d := appdiscover.New(a, r.opts.discovery, cache, r.log, r.opts.sessionTimeout, r.Healthy)
		a.mu.Lock()
		a.d = d
		a.mu.Unlock()
		r.bg.Add(1)
		go a.run()
	})
	return a.d
}

// Watch follows a service. The watch is shared by every watcher of the service on this
// Registry. ctx (and the session timeout) bounds the first read: when ZooKeeper cannot be
// reached meanwhile, the error wraps registry.ErrUnavailable. Without a session (Healthy
// false) Watch does not wait: the watcher starts from the list last read, empty if none,
// and follows the service as soon as a session is back.
//
// In LayoutDubbo the service is an interface, and unless WithDubboDiscovery says
// dubbo.DiscoverInterface the list also holds its application-level providers; the first
// list then waits, within ctx and the session timeout, for their metadata.
func (r *Registry) Watch(ctx context.Context, service string) (registry.Watcher, error) {
	if !r.appLevel() {
		return r.watchInterface(ctx, service)
	}
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, fmt.Errorf("zookeeper: watch %q: %w", service, registry.ErrClosed)
	}
	return r.apps.discoverer(r).Watch(ctx, service, func() (registry.Watcher, error) { return r.watchInterface(ctx, service) })
}

// GetService reads the instances of a service from ZooKeeper, sorted by ID. Nodes that do
// not hold a valid instance are skipped and logged once. In LayoutDubbo with
// application-level discovery (see WithDubboDiscovery) it returns Watch's first list.
func (r *Registry) GetService(ctx context.Context, service string) ([]*registry.Instance, error) {
	if !r.appLevel() {
		return r.getInterface(ctx, service)
	}
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, fmt.Errorf("zookeeper: get %q: %w", service, registry.ErrClosed)
	}
	return r.apps.discoverer(r).Get(ctx, service, func() (registry.Watcher, error) { return r.watchInterface(ctx, service) })
}

// WatchMapping implements appdiscover.Backend: the mapping <root>/mapping/<interface>.
func (a *appDiscovery) WatchMapping(iface string, set func([]string)) func() {
	return a.start(a.r.opts.root+"/mapping/"+iface, true, func(v any) { set(v.([]string)) })
}

// WatchApp implements appdiscover.Backend: the children of DubboServicesRoot/<app>.
func (a *appDiscovery) WatchApp(app string, set func([]dubbo.AppInstance)) func() {
	p := DubboServicesRoot + "/" + app
	if strings.Contains(app, "/") || zkconn.CheckPath(p) != nil {
		a.r.log.Warn("dubbo: skipping an application name in a mapping that is no node name", "app", app)
		return func() {}
	}
	return a.start(p, false, func(v any) { set(v.([]dubbo.AppInstance)) })
}

func (a *appDiscovery) start(p string, mapping bool, set func(any)) func() {
	f := &follow{path: p, mapping: mapping, set: set, full: true, dirty: map[string]bool{}, nodes: map[string]*dubbo.AppInstance{}}
	a.mu.Lock()
	a.follows[p] = f
	a.mu.Unlock()
	a.poke()
	return func() {
		a.mu.Lock()
		f.stopped = true
		if a.follows[p] == f {
			delete(a.follows, p)
		}
		a.mu.Unlock()
	}
}

func (a *appDiscovery) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// route marks what a node event changed; it reports whether the event was for it.
func (a *appDiscovery) route(ev zk.Event) bool {
	a.mu.Lock() // a.follows is empty until the discovery started
	defer a.mu.Unlock()
	if f := a.follows[ev.Path]; f != nil {
		f.full = true
		a.poke()
		return true
	}
	if f := a.follows[path.Dir(ev.Path)]; f != nil && !f.mapping {
		if ev.Type == zk.EventNodeDataChanged {
			f.dirty[path.Base(ev.Path)] = true
		} else {
			f.full = true
		}
		a.poke()
		return true
	}
	return false
}

// resync makes every follow read everything again in a new session, whose watches are not
// armed; when the session is new rather than reconnected, the instances listed stay listed
// for the hold window while the reads do not find them, as the interface level's do.
func (a *appDiscovery) resync(sid int64) {
	a.mu.Lock()
	renewed := a.session != 0 && sid != a.session
	a.session = sid
	for _, f := range a.follows {
		f.full, f.nodes = true, map[string]*dubbo.AppInstance{}
		if renewed && !f.mapping && len(f.last) > 0 {
			f.held, f.holdUntil = f.last, time.Now().Add(a.r.holdWindow())
		}
	}
	n := len(a.follows)
	a.mu.Unlock()
	if n > 0 {
		a.poke()
	}
}

func (a *appDiscovery) close() {
	a.mu.Lock()
	d := a.d
	a.mu.Unlock()
	if d != nil {
		d.Close()
	}
}

// run reads what events marked, one node at a time; a read that fails is retried with
// backoff while the session lasts, and after the next session otherwise. What cannot be read
// is not reported, so the last lists stay.
func (a *appDiscovery) run() {
	r := a.r
	defer r.bg.Done()
	attempt := 0
	for {
		failed := false
		a.mu.Lock()
		var todo []*follow
		for _, f := range a.follows {
			if f.full || len(f.dirty) > 0 {
				todo = append(todo, f)
			}
		}
		a.mu.Unlock()
		for _, f := range todo {
			if err := a.read(f); err != nil {
				failed = true
				a.mu.Lock()
				f.full = true
				a.mu.Unlock()
				if r.connected.Load() {
					r.log.Debug("dubbo: cannot read an application-level node; retrying", "node", f.path, "err", err)
				}
			}
		}
		var wake <-chan time.Time
		var t *time.Timer
		wait := time.Duration(-1)
		if failed && r.connected.Load() {
			wait = backoff.Default.Delay(attempt)
			attempt++
		} else if !failed {
			attempt = 0
		}
		if end := a.nextHoldEnd(); !end.IsZero() && (wait < 0 || time.Until(end) < wait) {
			wait = max(time.Until(end), 0)
		}
		if wait >= 0 {
			t = time.NewTimer(wait)
			wake = t.C
		}
		select {
		case <-r.stop:
		case <-a.kick:
		case <-wake:
		}
		if t != nil {
			t.Stop()
		}
		select {
		case <-r.stop:
			return
		default:
		}
	}
}

// nextHoldEnd returns the earliest end of a hold window, and marks the follows whose window
// is over for a read, which publishes their list without the instances held.
func (a *appDiscovery) nextHoldEnd() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var next time.Time
	now := time.Now()
	for _, f := range a.follows {
		switch {
		case f.holdUntil.IsZero():
		case !now.Before(f.holdUntil):
			f.full = true
			next = now
		case next.IsZero() || f.holdUntil.Before(next):
			next = f.holdUntil
		}
	}
	return next
}

// read reads one follow as its marks say, re-arming the watches the events consumed.
func (a *appDiscovery) read(f *follow) error {
	a.mu.Lock()
	full, dirty := f.full, f.dirty
	f.full, f.dirty = false, map[string]bool{}
	nodes := f.nodes
	a.mu.Unlock()
	if f.mapping {
		apps, err := a.readMapping(f.path)
		if err != nil {
			return err
		}
		if !a.stopped(f) {
			f.set(apps)
		}
		return nil
	}
	var toRead []string
	next := make(map[string]*dubbo.AppInstance, len(nodes))
	if full {
		// A new session, or the children changed: list them; read the new ones and those
		// whose data changed, keep the others as read.
		children, err := a.children(f.path)
		if err != nil {
			return err
		}
		for _, c := range children {
			if in, known := nodes[c]; known && !dirty[c] {
				next[c] = in
			} else {
				toRead = append(toRead, c)
			}
		}
	} else {
		for k, v := range nodes {
			next[k] = v
		}
		for c := range dirty {
			if _, known := nodes[c]; known {
				toRead = append(toRead, c)
			}
		}
	}
	for _, c := range toRead {
		in, gone, err := a.readInstance(f.path + "/" + c)
		if err != nil {
			return err
		}
		if gone {
			delete(next, c)
		} else {
			next[c] = in
		}
	}
	a.mu.Lock()
	f.nodes = next
	a.mu.Unlock()
	list := make([]dubbo.AppInstance, 0, len(next))
	for _, in := range next {
		if in != nil {
			list = append(list, *in)
		}
	}
	list = a.withHeld(f, list)
	slices.SortFunc(list, func(x, y dubbo.AppInstance) int { return strings.Compare(x.ID, y.ID) })
	if !a.stopped(f) {
		f.set(list)
	}
	return nil
}

// withHeld adds to list, within f's hold window, the instances held that it lacks; after
// the window it forgets them.
func (a *appDiscovery) withHeld(f *follow, list []dubbo.AppInstance) []dubbo.AppInstance {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !f.holdUntil.IsZero() && time.Now().Before(f.holdUntil) {
		ids := make(map[string]bool, len(list))
		for _, in := range list {
			ids[in.ID] = true
		}
		for _, in := range f.held {
			if !ids[in.ID] {
				list = append(list, in)
			}
		}
	} else if !f.holdUntil.IsZero() {
		f.held, f.holdUntil = nil, time.Time{}
	}
	f.last = list
	return list
}

func (a *appDiscovery) stopped(f *follow) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return f.stopped
}

// readMapping reads a mapping node and arms a data watch on it, or an exists watch while
// there is none (an interface no application maps to yet).
func (a *appDiscovery) readMapping(p string) ([]string, error) {
	r := a.r
	for range 3 {
		data, _, _, err := r.conn.GetW(p)
		if err == nil {
			return dubbo.ParseMapping(string(data)), nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return nil, r.wrapErr("watch", p, err)
		}
		exists, _, _, err := r.conn.ExistsW(p)
		if err != nil {
			return nil, r.wrapErr("watch", p, err)
		}
		if !exists {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("zookeeper: watch %s: %w: the node keeps appearing and vanishing", p, registry.ErrUnavailable)
}

// children lists an application's node with a child watch, or arms an exists watch while
// the node is missing.
func (a *appDiscovery) children(p string) ([]string, error) {
	r := a.r
	for range 3 {
		children, _, _, err := r.conn.ChildrenW(p)
		if err == nil {
			return children, nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return nil, r.wrapErr("watch", p, err)
		}
		exists, _, _, err := r.conn.ExistsW(p)
		if err != nil {
			return nil, r.wrapErr("watch", p, err)
		}
		if !exists {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("zookeeper: watch %s: %w: the node keeps appearing and vanishing", p, registry.ErrUnavailable)
}

// readInstance reads an instance node with a data watch. A node that holds no instance is
// logged once per version (as provider nodes are) and kept as nil.
func (a *appDiscovery) readInstance(p string) (in *dubbo.AppInstance, gone bool, err error) {
	r := a.r
	data, st, _, err := r.conn.GetW(p)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, r.wrapErr("read", p, err)
	}
	got, err := dubbo.ParseAppInstance(data)
	if err == nil && got.App != path.Base(path.Dir(p)) {
		err = fmt.Errorf("%w: instance of application %q under %s", dubbo.ErrInvalidInstance, got.App, path.Dir(p))
	}
	if err != nil {
		r.logBad(p, st.Version, err)
		return nil, false, nil
	}
	return &got, false, nil
}

func (o *options) checkDiscovery() error {
	if err := o.discovery.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}
