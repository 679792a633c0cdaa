package nacos

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
	"github.com/tianshu-go/tianshu/internal/nacosconn"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/internal/appdiscover"
)

// DubboMappingGroup is the Nacos config group of Dubbo's interface-to-application mappings:
// the dataId is the interface name, the content the applications, comma-separated.
const DubboMappingGroup = "mapping"

// WithDubboDiscovery says where a consumer under WithDubboNaming looks for the providers of
// an interface: dubbo.DiscoverAll (the default) reads the providers registered at interface
// level (providers:<interface>:<version>:<group>) and those found at application level (the
// interface's mapping, config dataId <interface> in group DubboMappingGroup; the instances of
// each application, service <application> in DEFAULT_GROUP; and the metadata each instance's
// MetadataServiceV2 serves) and merges them; dubbo.DiscoverInterface reads the interface
// level only, dubbo.DiscoverApplication the application level only. Application-level
// instances of every group and version of the interface are listed (rpc.WithDubbo picks
// one). A mode out of range makes New fail with ErrInvalidConfig. Without WithDubboNaming it
// is ignored.
func WithDubboDiscovery(m dubbo.DiscoveryMode) Option {
	return func(o *options) { o.discovery = m }
}

// appDiscovery is a Registry's application-level discovery, started with its first watch of
// an interface (appdiscover does the resolving; this file is its Nacos I/O).
type appDiscovery struct {
	servers []string // set by New

	once    sync.Once
	err     error
	d       *appdiscover.Discoverer
	r       *Registry
	cfg     *nacosconn.ConfigClient
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	stopped bool

	mu       sync.Mutex
	mappings map[*mappingFollow]struct{}
}

// mappingFollow is one interface's mapping, read again whenever the server notifies a change
// (and every poll interval, for a notification lost in a reconnection).
type mappingFollow struct {
	a     *appDiscovery
	iface string
	set   func([]string)
	dirty bool // under appDiscovery.mu
}

// Notify implements nacosconn.Notifier; it runs on the SDK's goroutine and must not block.
func (m *mappingFollow) Notify() {
	m.a.mu.Lock()
	m.dirty = true
	m.a.mu.Unlock()
	m.a.poke()
}

func (o *options) appLevel() bool { return o.dubbo != nil && o.discovery != dubbo.DiscoverInterface }

func (o *options) checkDiscovery() error {
	if err := o.discovery.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// discoverer starts the application-level discovery once; it needs a config client for the
// mappings, which it shares with the process's other users of these servers.
func (a *appDiscovery) discoverer(ctx context.Context, r *Registry) (*appdiscover.Discoverer, error) {
	a.once.Do(func() {
		cfg, err := nacosconn.AcquireConfig(ctx, r.o.settings(), a.servers)
		if err != nil {
			a.err = err
			return
		}
		cache, err := metadataservice.NewCache(metadataservice.WithCacheLogger(r.o.log))
		if err != nil {
			panic(err) // the defaults are valid
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		a.r, a.cfg = r, cfg
		a.kick, a.stop, a.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		a.mappings = map[*mappingFollow]struct{}{}
		a.d = appdiscover.New(a, r.o.discovery, cache, r.o.log, 2*r.o.timeout+metadataservice.DefaultTimeout, r.Healthy)
		go a.run()
	})
	if a.err != nil {
		return nil, fmt.Errorf("nacos: application-level discovery: %w", a.err)
	}
	return a.d, nil
}

func (a *appDiscovery) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// WatchMapping implements appdiscover.Backend.
func (a *appDiscovery) WatchMapping(iface string, set func([]string)) func() {
	m := &mappingFollow{a: a, iface: iface, set: set, dirty: true}
	a.mu.Lock()
	a.mappings[m] = struct{}{}
	a.mu.Unlock()
	if err := a.cfg.Listen(DubboMappingGroup, iface, m); err != nil {
		a.r.o.log.Warn("nacos: cannot listen to a Dubbo mapping; reading it every poll interval", "interface", iface, "err", err)
	}
	a.poke()
	return func() {
		a.cfg.Unlisten(DubboMappingGroup, iface, m)
		a.mu.Lock()
		delete(a.mappings, m)
		a.mu.Unlock()
	}
}

// WatchApp implements appdiscover.Backend: the instances of service <app> in DEFAULT_GROUP,
// through the Registry's shared subscriptions (and their hold after a reconnection).
func (a *appDiscovery) WatchApp(app string, set func([]dubbo.AppInstance)) func() {
	if registry.ValidateName("application", app) != nil {
		a.r.o.log.Warn("nacos: skipping an application name in a Dubbo mapping that is no service name", "app", app)
		return func() {}
	}
	sub, err := a.r.n.subscribe(svcKey{group: DefaultGroup, name: app}, app, nil)
	if sub == nil {
		a.r.o.log.Warn("nacos: cannot follow a Dubbo application", "app", app, "err", err)
		return func() {}
	}
	w := sub.bc.Watch(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			list, err := w.Next()
			if err != nil {
				return // stopped, or the client closed
			}
			if err == nil && (sub.isReady() || len(list) > 0) {
				set(appInstances(app, list))
			}
		}
	}()
	return func() {
		_ = w.Stop()
		<-done
	}
}

func (s *subscription) isReady() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready
}

// appInstances reads Nacos instances of a Dubbo application as Dubbo's: the address is the
// Nacos ip:port, the metadata the instance's.
func appInstances(app string, list []*registry.Instance) []dubbo.AppInstance {
	out := make([]dubbo.AppInstance, 0, len(list))
	for _, in := range list {
		if len(in.Endpoints) == 0 {
			continue
		}
		e := in.Endpoints[len(in.Endpoints)-1] // foreign entries: the Nacos address
		out = append(out, dubbo.AppInstance{
			App: app, ID: net.JoinHostPort(e.Host, strconv.Itoa(e.Port)), Host: e.Host, Port: e.Port, Metadata: in.Metadata,
		})
	}
	slices.SortFunc(out, func(x, y dubbo.AppInstance) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// run reads the mappings marked dirty, and all of them every poll interval; a failed read is
// retried with the registry's backoff. What cannot be read is not reported.
func (a *appDiscovery) run() {
	defer close(a.done)
	poll := a.r.o.poll
	if poll <= 0 {
		poll = 10 * time.Second
	}
	attempt := 0
	for {
		a.mu.Lock()
		var todo []*mappingFollow
		for m := range a.mappings {
			if m.dirty {
				todo = append(todo, m)
				m.dirty = false
			}
		}
		a.mu.Unlock()
		failed := false
		for _, m := range todo {
			content, err := a.cfg.Cli.GetConfig(vo.ConfigParam{DataId: m.iface, Group: DubboMappingGroup})
			if err != nil {
				failed = true
				a.mu.Lock()
				m.dirty = true
				a.mu.Unlock()
				a.r.o.log.Debug("nacos: cannot read a Dubbo mapping; retrying", "interface", m.iface, "err", err)
				continue
			}
			m.set(dubbo.ParseMapping(content)) // "" is a mapping nobody wrote yet
		}
		wait := poll
		if failed {
			wait = a.r.o.retry.Delay(attempt)
			attempt++
		} else {
			attempt = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-a.stop:
			t.Stop()
			return
		case <-a.kick:
		case <-t.C:
			a.mu.Lock()
			for m := range a.mappings {
				m.dirty = true
			}
			a.mu.Unlock()
		}
		t.Stop()
	}
}

func (a *appDiscovery) close() {
	a.mu.Lock()
	started := a.d != nil && !a.stopped
	a.stopped = true
	a.mu.Unlock()
	if !started {
		return
	}
	a.d.Close()
	close(a.stop)
	<-a.done
	a.cfg.Release()
}

// Watch follows a service. The first Next returns the current list at once, even when it is
// empty or equal to what the SDK has cached; an empty list is delivered when the last
// instance leaves. While the server cannot be reached the watcher starts from an empty list,
// and the SDK's subscription, renewed when it connects, delivers the service's list, as the
// registry package's contract says.
//
// Under WithDubboNaming, unless WithDubboDiscovery says dubbo.DiscoverInterface, the service
// is an interface and the list also holds its application-level providers; the first list
// then waits, within ctx, for their metadata.
func (r *Registry) Watch(ctx context.Context, service string) (registry.Watcher, error) {
	if !r.o.appLevel() || strings.HasPrefix(service, "providers:") {
		return r.watchInterface(ctx, service)
	}
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, registry.ErrClosed
	}
	d, err := r.apps.discoverer(ctx, r)
	if err != nil {
		return nil, err
	}
	return d.Watch(ctx, service, func() (registry.Watcher, error) { return r.watchInterface(ctx, service) })
}

// GetService returns the usable (enabled, healthy, positive weight) instances of a service,
// sorted by ID. Entries that cannot be read as instances are skipped and logged once.
// Reading a service subscribes to it for the life of the shared client, as the SDK does.
// Under WithDubboNaming with application-level discovery (see WithDubboDiscovery) it returns
// Watch's first list.
func (r *Registry) GetService(ctx context.Context, service string) ([]*registry.Instance, error) {
	if !r.o.appLevel() || strings.HasPrefix(service, "providers:") {
		return r.getInterface(ctx, service)
	}
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, registry.ErrClosed
	}
	d, err := r.apps.discoverer(ctx, r)
	if err != nil {
		return nil, err
	}
	return d.Get(ctx, service, func() (registry.Watcher, error) { return r.watchInterface(ctx, service) })
}
