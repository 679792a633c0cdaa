package eureka

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// discovery is a Registry's copy of the server's registry, kept as Eureka's own clients keep
// theirs: one full fetch (GET /apps), then every fetch interval the changes of the last few
// minutes (GET /apps/delta) applied to it, after which its apps__hashcode must equal the
// copy's; when it does not (changes were missed, the server restarted), the next step is a
// full fetch. Watchers of a service are served from the copy through a registry.Broadcast.
type discovery struct {
	r       *Registry
	noDelta atomic.Bool // the server refuses deltas: always fetch in full

	fetchMu sync.Mutex // one fetch at a time

	mu      sync.Mutex
	apps    map[string]map[string]*instanceJSON // app -> instance ID -> instance, every status
	full    bool                                // apps holds a full fetch
	watches map[string]*watch                   // by service name
	skipped map[string]bool                     // instances logged as unusable, by app/ID/dirty time
	polling bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}

	fulls, deltas atomic.Int64 // fetches made, for tests and logs
}

type watch struct {
	service string
	bc      *registry.Broadcast
	refs    int
}

func newDiscovery(r *Registry) *discovery {
	return &discovery{
		r:       r,
		apps:    map[string]map[string]*instanceJSON{},
		watches: map[string]*watch{},
		skipped: map[string]bool{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// Watch follows a service from the Registry's copy of the registry, which it fetches every
// fetch interval once a first Watch started it. The first Next returns the list the copy
// holds; if the copy was never fetched, Watch fetches it first, waiting about a second at
// most (within ctx) for a server.
func (r *Registry) Watch(ctx context.Context, service string) (registry.Watcher, error) {
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	return r.disc.watch(ctx, service)
}

func (d *discovery) watch(ctx context.Context, service string) (registry.Watcher, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, fmt.Errorf("eureka: watch %s: %w", service, registry.ErrClosed)
	}
	w := d.watches[service]
	if w == nil {
		w = &watch{service: service, bc: registry.NewBroadcast(d.listLocked(service))}
		d.watches[service] = w
	}
	w.refs++
	full := d.full
	if !d.polling {
		d.polling = true
		go d.poll()
	}
	d.mu.Unlock()
	if !full {
		fctx, cancel := context.WithTimeout(ctx, probeWait)
		_ = d.refresh(fctx) // failures are the poller's to retry and log
		cancel()
	}
	return w.bc.Watch(func() { d.release(w) }), nil
}

func (d *discovery) release(w *watch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w.refs--; w.refs == 0 && d.watches[w.service] == w {
		delete(d.watches, w.service)
		w.bc.Close()
	}
}

// poll refreshes the copy every fetch interval until close.
func (d *discovery) poll() {
	defer close(d.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(d.r.opts.fetch)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		if err := d.refresh(ctx); err != nil && ctx.Err() == nil {
			d.r.log.Debug("eureka: fetch failed; the watchers keep their lists", "err", err)
		}
	}
}

// refresh brings the copy up to date and publishes the services that changed.
func (d *discovery) refresh(ctx context.Context) error {
	d.fetchMu.Lock()
	defer d.fetchMu.Unlock()
	d.mu.Lock()
	full := d.full && !d.noDelta.Load()
	d.mu.Unlock()
	if full {
		changed, ok, err := d.fetchDelta(ctx)
		if err != nil {
			return err
		}
		if ok {
			d.publish(changed)
			return nil
		}
	}
	if err := d.fetchFull(ctx); err != nil {
		return err
	}
	d.publish(nil)
	return nil
}

func (d *discovery) get(ctx context.Context, path string) (*applicationsJSON, error) {
	resp, err := d.r.c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, statusError("GET "+path, resp)
	}
	apps, err := parseApplications(resp.body)
	if err != nil {
		return nil, fmt.Errorf("GET %s from %s: %w", path, resp.server, err)
	}
	return apps, nil
}

func (d *discovery) fetchFull(ctx context.Context) error {
	apps, err := d.get(ctx, "/apps/")
	if err != nil {
		return err
	}
	d.fulls.Add(1)
	m := make(map[string]map[string]*instanceJSON, len(apps.Application))
	for _, app := range apps.Application {
		ins := make(map[string]*instanceJSON, len(app.Instance))
		for _, in := range app.Instance {
			ins[in.id()] = in
		}
		m[app.Name] = ins
	}
	d.mu.Lock()
	d.apps, d.full = m, true
	d.mu.Unlock()
	return nil
}

// fetchDelta applies the server's recent changes to the copy and returns the applications
// they touched; ok is false when the copy's hash then differs from the server's, and a full
// fetch must follow.
func (d *discovery) fetchDelta(ctx context.Context) (changed map[string]bool, ok bool, err error) {
	delta, err := d.get(ctx, "/apps/delta")
	if err != nil {
		return nil, false, err
	}
	d.deltas.Add(1)
	changed = map[string]bool{}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, app := range delta.Application {
		for _, in := range app.Instance {
			name := in.App
			if name == "" {
				name = app.Name
			}
			changed[name] = true
			switch in.ActionType {
			case "DELETED":
				delete(d.apps[name], in.id())
				if len(d.apps[name]) == 0 {
					delete(d.apps, name)
				}
			default: // ADDED, MODIFIED
				if d.apps[name] == nil {
					d.apps[name] = map[string]*instanceJSON{}
				}
				d.apps[name][in.id()] = in
			}
		}
	}
	if got := reconcileHash(d.apps); got != delta.AppsHashcode {
		d.r.log.Debug("eureka: the registry's hash differs after a delta; fetching it in full", "local", got, "server", delta.AppsHashcode)
		return nil, false, nil
	}
	return changed, true, nil
}

// publish sets the lists of the watched services whose application is in changed, or of
// all when changed is nil.
func (d *discovery) publish(changed map[string]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.watches {
		if changed == nil || changed[appName(w.service)] {
			w.bc.Set(d.listLocked(w.service))
		}
	}
}

// listLocked returns the service's UP instances in the copy. The caller holds mu.
func (d *discovery) listLocked(service string) []*registry.Instance {
	return d.decodeListLocked(service, d.apps[appName(service)])
}

// decodeList turns an application's instances into the service's list.
func (d *discovery) decodeList(service string, byID map[string]*instanceJSON) []*registry.Instance {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.decodeListLocked(service, byID)
}

func (d *discovery) decodeListLocked(service string, byID map[string]*instanceJSON) []*registry.Instance {
	list := make([]*registry.Instance, 0, len(byID))
	for _, info := range byID {
		in, ok, err := decodeInstance(service, info)
		if err != nil {
			// Logged once per version of the instance, not at every fetch.
			key := fmt.Sprintf("%s/%s/%d", info.App, info.id(), info.LastUpdated)
			if !d.skipped[key] {
				if len(d.skipped) >= 10000 {
					clear(d.skipped) // forget old versions rather than grow without bound
				}
				d.skipped[key] = true
				d.r.log.Warn("eureka: skipping an instance that cannot be used", "app", info.App, "instance", info.id(), "err", err)
			}
			continue
		}
		if ok {
			list = append(list, in)
		}
	}
	registry.SortInstances(list)
	return list
}

// close stops the poller and every watcher.
func (d *discovery) close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	polling := d.polling
	close(d.stop)
	watches := maps.Clone(d.watches)
	d.watches = map[string]*watch{}
	d.mu.Unlock()
	if polling {
		<-d.done
	}
	for _, w := range watches {
		w.bc.Close()
	}
}
