// Package appdiscover is what the registry backends share to find Dubbo providers registered
// at application level (Dubbo 3's service discovery): for each interface watched, it follows
// the interface's mapping to applications, the instances of each application, and the
// metadata of their revisions (dubbo/metadataservice.Cache), and publishes the interface's
// tri instances (dubbo.ResolveInstances), merged with the interface-level ones
// (dubbo.MergeInstances) or alone, as a registry.Watcher. A backend supplies only its I/O:
// how to follow a mapping and an application's instances (Backend).
//
// What a backend cannot read it does not report, so a dead registry leaves the last lists
// serving; an instance whose metadata cannot be fetched is left out until it can be, and
// instances already resolved stay while their provider's MetadataService is unreachable,
// since their revision's metadata is cached.
package appdiscover

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
	"github.com/tianshu-go/tianshu/registry"
)

// Backend is the I/O of one registry backend. Each Watch method starts following one thing
// and returns a function that ends it; set is called with the whole current value each time
// the backend reads it (at least once, as soon as it can read it), from any goroutine, and
// does not block. A backend that cannot read does not call set.
type Backend interface {
	// WatchMapping follows the applications listed in the mapping of an interface.
	WatchMapping(iface string, set func(apps []string)) (stop func())
	// WatchApp follows the instances of an application.
	WatchApp(app string, set func(instances []dubbo.AppInstance)) (stop func())
}

// Discoverer resolves interfaces through their applications for one registry. The zero
// value is not usable; call New.
type Discoverer struct {
	b        Backend
	mode     dubbo.DiscoveryMode
	cache    *metadataservice.Cache
	log      *slog.Logger
	maxReady time.Duration
	healthy  func() bool

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	closed bool
	ifaces map[string]*ifaceWatch
	apps   map[string]*appState

	// byIface indexes each revision's services by interface, so that publishing one
	// interface reads its own services rather than every service of every application at
	// every sync; loop's own, keyed by application and revision (a revision's metadata never
	// changes), pruned to the revisions still resolved.
	byIface map[revKey]map[string]dubbo.MetadataInfo
}

type revKey struct{ app, rev string }

// ifaceWatch is one interface followed for all its watchers.
type ifaceWatch struct {
	iface string
	refs  int // under Discoverer.mu
	bc    *registry.Broadcast
	ready chan struct{}
	once  sync.Once

	inner       registry.Watcher // interface level; nil in DiscoverApplication
	innerDone   chan struct{}
	stopMapping func()
	logged      map[string]bool // skipped instances logged, by error text; loop's own

	mu          sync.Mutex // guards what the backend's and inner's callbacks set
	apps        []string
	mappingSeen bool
	innerList   []*registry.Instance
	innerSeen   bool
}

// appState is one application followed for all the interfaces that map to it.
type appState struct {
	app  string
	refs int // interfaces mapping to it; loop's own
	stop func()

	mu        sync.Mutex
	instances []dubbo.AppInstance // as the backend last set them
	seen      bool

	// The loop's own: what the last sync resolved, taken together so that publish never
	// pairs instances set since with the metadata of older ones.
	resolved []dubbo.AppInstance
	lookup   dubbo.MetadataLookup
	settled  bool // instances read and each revision's first fetch over
}

// New returns a Discoverer over b in mode (DiscoverAll or DiscoverApplication), fetching
// metadata through cache, which it closes with Close. maxReady bounds how long Watch waits
// for the applications' instances and metadata before it returns a watcher anyway; while
// healthy reports false (the backend's server cannot be reached), Watch does not wait at
// all, as the registry package's contract asks.
func New(b Backend, mode dubbo.DiscoveryMode, cache *metadataservice.Cache, log *slog.Logger, maxReady time.Duration, healthy func() bool) *Discoverer {
	d := &Discoverer{
		b: b, mode: mode, cache: cache, log: log, maxReady: maxReady, healthy: healthy,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		ifaces: map[string]*ifaceWatch{}, apps: map[string]*appState{},
	}
	go d.loop()
	return d
}

func (d *Discoverer) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Watch follows interface iface. openInner opens the interface-level watch (it is not called
// in DiscoverApplication mode); its error is Watch's. Watch waits, at most until ctx is done
// or maxReady has passed, until the mapping, the instances of every application in it and a
// first fetch of each of their revisions have been read, so that a consumer's first list
// has the providers found; ctx ending first gives an error wrapping registry.ErrUnavailable.
// While the backend is not healthy it returns at once, and the watcher's lists follow as
// the backend reads them.
func (d *Discoverer) Watch(ctx context.Context, iface string, openInner func() (registry.Watcher, error)) (registry.Watcher, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, fmt.Errorf("dubbo application-level watch %q: %w", iface, registry.ErrClosed)
	}
	iw := d.ifaces[iface]
	if iw == nil {
		iw = &ifaceWatch{iface: iface, bc: registry.NewBroadcast(nil), ready: make(chan struct{}), logged: map[string]bool{}}
		if d.mode != dubbo.DiscoverApplication {
			inner, err := openInner()
			if err != nil {
				d.mu.Unlock()
				return nil, err
			}
			iw.inner, iw.innerDone = inner, make(chan struct{})
			go d.follow(iw)
		}
		iw.stopMapping = d.b.WatchMapping(iface, func(apps []string) {
			iw.mu.Lock()
			iw.apps, iw.mappingSeen = slices.Clone(apps), true
			iw.mu.Unlock()
			d.poke()
		})
		d.ifaces[iface] = iw
	}
	iw.refs++
	d.mu.Unlock()
	d.poke()

	if !d.healthy() {
		iw.once.Do(func() { close(iw.ready) }) // publish what there is from now on
		return iw.bc.Watch(func() { d.release(iw) }), nil
	}
	t := time.NewTimer(d.maxReady)
	defer t.Stop()
	select {
	case <-iw.ready:
	case <-t.C:
		iw.once.Do(func() { close(iw.ready) }) // publish what there is from now on
		d.poke()
		d.log.Warn("dubbo: application-level providers not all resolved yet; watching on", "interface", iface, "waited", d.maxReady)
	case <-ctx.Done():
		d.release(iw)
		return nil, fmt.Errorf("dubbo application-level watch %q: %w: %w", iface, registry.ErrUnavailable, ctx.Err())
	case <-d.stop:
		d.release(iw)
		return nil, fmt.Errorf("dubbo application-level watch %q: %w", iface, registry.ErrClosed)
	}
	return iw.bc.Watch(func() { d.release(iw) }), nil
}

// Get returns the current instances of iface, as Watch's first list.
func (d *Discoverer) Get(ctx context.Context, iface string, openInner func() (registry.Watcher, error)) ([]*registry.Instance, error) {
	w, err := d.Watch(ctx, iface, openInner)
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	list, err := w.Next()
	return slices.Clone(list), err
}

// follow copies the interface-level watch's lists into iw.
func (d *Discoverer) follow(iw *ifaceWatch) {
	defer close(iw.innerDone)
	for {
		list, err := iw.inner.Next()
		if err == registry.ErrWatcherStopped {
			return
		}
		if err != nil {
			continue // the backend's transient error; its watch goes on
		}
		iw.mu.Lock()
		iw.innerList, iw.innerSeen = list, true
		iw.mu.Unlock()
		d.poke()
	}
}

func (d *Discoverer) release(iw *ifaceWatch) {
	d.mu.Lock()
	iw.refs--
	last := iw.refs == 0 && d.ifaces[iw.iface] == iw
	if last {
		delete(d.ifaces, iw.iface)
	}
	d.mu.Unlock()
	if last {
		d.end(iw)
		d.poke() // drop the applications no interface maps to any more
	}
}

func (d *Discoverer) end(iw *ifaceWatch) {
	iw.stopMapping()
	if iw.inner != nil {
		_ = iw.inner.Stop()
		<-iw.innerDone
	}
	iw.bc.Close()
}

// Close stops every watch and the metadata cache. It is idempotent.
func (d *Discoverer) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	ifaces := d.ifaces
	d.ifaces = map[string]*ifaceWatch{}
	d.mu.Unlock()
	close(d.stop)
	<-d.done
	for _, iw := range ifaces {
		d.end(iw)
	}
	for _, a := range d.apps {
		a.stop()
	}
	d.cache.Close()
}

func (d *Discoverer) loop() {
	defer close(d.done)
	for {
		select {
		case <-d.stop:
			return
		case <-d.kick:
		}
		d.sync()
	}
}

// sync brings the applications followed in line with the mappings, resolves every
// application's metadata and publishes every interface's list.
func (d *Discoverer) sync() {
	d.mu.Lock()
	ifaces := slices.Collect(maps.Values(d.ifaces))
	d.mu.Unlock()

	wanted := map[string]bool{}
	for _, iw := range ifaces {
		iw.mu.Lock()
		for _, a := range iw.apps {
			wanted[a] = true
		}
		iw.mu.Unlock()
	}
	for app := range wanted {
		if d.apps[app] == nil {
			a := &appState{app: app}
			d.apps[app] = a
			a.stop = d.b.WatchApp(app, func(ins []dubbo.AppInstance) {
				a.mu.Lock()
				a.instances, a.seen = slices.Clone(ins), true
				a.mu.Unlock()
				d.poke()
			})
		}
	}
	for app, a := range d.apps {
		if !wanted[app] {
			a.stop()
			d.cache.Resolve(app, nil, nil)
			delete(d.apps, app)
		}
	}
	for app, a := range d.apps {
		a.mu.Lock()
		ins, seen := a.instances, a.seen
		a.mu.Unlock()
		lookup, pending := d.cache.Resolve(app, ins, d.poke)
		a.resolved, a.lookup, a.settled = ins, lookup, seen && !pending
	}
	live := map[revKey]bool{}
	for app, a := range d.apps {
		for _, in := range a.resolved {
			live[revKey{app, in.Revision()}] = true
		}
	}
	for k := range d.byIface {
		if !live[k] {
			delete(d.byIface, k)
		}
	}
	for _, iw := range ifaces {
		d.publish(iw)
	}
}

// servicesOf returns the part of app's metadata of revision rev (read with lookup) that
// serves iface, and false when the metadata is not known.
func (d *Discoverer) servicesOf(app, rev, iface string, lookup dubbo.MetadataLookup) (dubbo.MetadataInfo, bool) {
	k := revKey{app, rev}
	idx, ok := d.byIface[k]
	if !ok {
		md, found := lookup(app, rev)
		if !found {
			return dubbo.MetadataInfo{}, false
		}
		idx = map[string]dubbo.MetadataInfo{}
		for key, s := range md.Services {
			m, ok := idx[s.Name]
			if !ok {
				m = dubbo.MetadataInfo{App: md.App, Services: map[string]dubbo.ServiceInfo{}}
				idx[s.Name] = m
			}
			m.Services[key] = s
		}
		if d.byIface == nil {
			d.byIface = map[revKey]map[string]dubbo.MetadataInfo{}
		}
		d.byIface[k] = idx
	}
	if m, ok := idx[iface]; ok {
		return m, true
	}
	return dubbo.MetadataInfo{App: app}, true
}

// publish computes one interface's list from what is known and hands it to its watchers.
func (d *Discoverer) publish(iw *ifaceWatch) {
	iw.mu.Lock()
	apps, mappingSeen, inner, innerSeen := iw.apps, iw.mappingSeen, iw.innerList, iw.innerSeen
	iw.mu.Unlock()
	ready := mappingSeen && (innerSeen || iw.inner == nil)
	var all []dubbo.AppInstance
	lookups := map[string]dubbo.MetadataLookup{}
	for _, app := range apps {
		a := d.apps[app]
		if a == nil {
			ready = false
			continue
		}
		all = append(all, a.resolved...)
		lookups[app] = a.lookup
		ready = ready && a.settled
	}
	appLevel, skipped := dubbo.ResolveInstances(iw.iface, all, func(app, rev string) (dubbo.MetadataInfo, bool) {
		if l := lookups[app]; l != nil {
			return d.servicesOf(app, rev, iw.iface, l)
		}
		return dubbo.MetadataInfo{}, false
	})
	seen := map[string]bool{}
	for _, err := range skipped {
		msg := err.Error()
		seen[msg] = true
		if !iw.logged[msg] {
			d.log.Warn("dubbo: skipping an application-level instance that cannot be read", "interface", iw.iface, "err", err)
		}
	}
	iw.logged = seen
	list := appLevel
	if d.mode != dubbo.DiscoverApplication {
		list = dubbo.MergeInstances(inner, appLevel)
	}
	// Nothing is published before the first lists are read, so that a watcher's first
	// Next (Watch waits for it) does not see an empty list in between.
	if ready || isClosedChan(iw.ready) {
		iw.bc.Set(list)
	}
	if ready {
		iw.once.Do(func() { close(iw.ready) })
	}
}

func isClosedChan(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
