package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/internal/hold"
)

// serviceWatch follows the providers of one service for all the watchers of a Registry. It
// keeps a child watch on the providers node (or an exists watch while that node is missing)
// and a data watch on each provider node, and re-reads only what an event names. ZooKeeper
// watches fire once: each read re-arms the watch it consumed.
type serviceWatch struct {
	r       *Registry
	service string
	path    string
	bc      *registry.Broadcast
	refs    int // under r.mu

	kick chan struct{} // capacity 1: "something is dirty"
	stop chan struct{}

	mu       sync.Mutex
	full     bool            // re-list and re-read everything (new session)
	list     bool            // re-list the children
	data     map[string]bool // children whose data changed
	nodes    map[string]*node
	synced   chan struct{} // closed after the first successful read
	syncOnce sync.Once
	lastErr  string

	// The run goroutine's own: the session of the last list published, and while a new
	// session's hold window keeps instances the reads no longer find, its end.
	session   int64
	holdUntil time.Time
	held      int // instances kept, for the log
}

// watchInterface follows a service's providers node. The watch is shared by every watcher of
// the service on this Registry. ctx (and the session timeout) bounds the first read: when
// ZooKeeper cannot be reached meanwhile, the error wraps registry.ErrUnavailable. Without a
// session (Healthy false) Watch does not wait: the watcher starts from the list last read,
// empty if none, and the watch reads the service as soon as a session is back.
func (r *Registry) watchInterface(ctx context.Context, service string) (registry.Watcher, error) {
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("zookeeper: watch %q: %w", service, registry.ErrClosed)
	}
	sw := r.watches[service]
	if sw == nil {
		sw = &serviceWatch{
			r: r, service: service, path: r.providersPath(service),
			bc:   registry.NewBroadcast(nil),
			kick: make(chan struct{}, 1), stop: make(chan struct{}),
			full: true, data: map[string]bool{}, nodes: map[string]*node{},
			synced: make(chan struct{}),
		}
		r.watches[service] = sw
		r.routeMu.Lock()
		r.byPath[sw.path] = sw
		r.routeMu.Unlock()
		r.bg.Add(1)
		go sw.run()
	}
	sw.refs++
	r.mu.Unlock()

	if !r.Healthy() {
		return sw.bc.Watch(func() { r.release(sw) }), nil
	}
	t := time.NewTimer(r.opts.sessionTimeout)
	defer t.Stop()
	var err error
	select {
	case <-sw.synced:
		return sw.bc.Watch(func() { r.release(sw) }), nil
	case <-ctx.Done():
		err = fmt.Errorf("zookeeper: watch %q: %w: %w", service, registry.ErrUnavailable, ctx.Err())
	case <-t.C:
		err = fmt.Errorf("zookeeper: watch %q: %w: no answer from ZooKeeper within %v", service, registry.ErrUnavailable, r.opts.sessionTimeout)
	case <-r.stop:
		err = fmt.Errorf("zookeeper: watch %q: %w", service, registry.ErrClosed)
	}
	r.release(sw)
	return nil, err
}

// release drops one watcher of sw, and ends the watch with the last one.
func (r *Registry) release(sw *serviceWatch) {
	r.mu.Lock()
	sw.refs--
	last := sw.refs == 0 && r.watches[sw.service] == sw
	if last {
		delete(r.watches, sw.service)
	}
	r.mu.Unlock()
	if last {
		r.routeMu.Lock()
		if r.byPath[sw.path] == sw {
			delete(r.byPath, sw.path)
		}
		r.routeMu.Unlock()
		close(sw.stop)
		sw.bc.Close()
	}
}

// route hands a node event to the watch it concerns: events on a providers node itself
// change its list of children, events on a child its data.
func (r *Registry) route(ev zk.Event) {
	if r.apps.route(ev) {
		return
	}
	r.routeMu.RLock()
	sw, own := r.byPath[ev.Path]
	var parent *serviceWatch
	if !own {
		parent = r.byPath[path.Dir(ev.Path)]
	}
	r.routeMu.RUnlock()
	switch {
	case own:
		sw.mark(func() { sw.list = true })
	case parent != nil && ev.Type == zk.EventNodeDataChanged:
		name := path.Base(ev.Path)
		parent.mark(func() { parent.data[name] = true })
	case parent != nil && ev.Type == zk.EventNodeDeleted:
		parent.mark(func() { parent.list = true })
	}
}

func (sw *serviceWatch) mark(f func()) {
	sw.mu.Lock()
	f()
	sw.mu.Unlock()
	select {
	case sw.kick <- struct{}{}:
	default:
	}
}

func (sw *serviceWatch) markFull() { sw.mark(func() { sw.full = true }) }

func (sw *serviceWatch) run() {
	defer sw.r.bg.Done()
	attempt := 0
	for {
		err := sw.sync()
		wait := time.Duration(-1)
		if err == nil {
			attempt = 0
			sw.syncOnce.Do(func() { close(sw.synced) })
		} else if sw.r.connected.Load() {
			// The session is there but the read failed (an ACL, a node changing under
			// us): retry with backoff. Without a session, the keeper kicks every watch
			// once one is back.
			wait = backoff.Default.Delay(attempt)
			attempt++
		}
		if !sw.holdUntil.IsZero() {
			if d := max(time.Until(sw.holdUntil), 0); wait < 0 || d < wait {
				wait = d
			}
		}
		var timer *time.Timer
		wake := (<-chan time.Time)(nil)
		if wait >= 0 {
			timer = time.NewTimer(wait)
			wake = timer.C
		}
		select {
		case <-sw.stop:
		case <-sw.r.stop:
		case <-sw.kick:
		case <-wake:
		}
		if timer != nil {
			timer.Stop()
		}
		select {
		case <-sw.stop:
			return
		case <-sw.r.stop:
			return
		default:
		}
	}
}

// sync reads what events marked dirty and publishes the new list.
func (sw *serviceWatch) sync() error {
	sw.mu.Lock()
	full, list, data := sw.full, sw.list, sw.data
	sw.full, sw.list, sw.data = false, false, map[string]bool{}
	sw.mu.Unlock()
	if !full && !list && len(data) == 0 {
		if !sw.holdUntil.IsZero() && !time.Now().Before(sw.holdUntil) {
			sw.publish() // the hold window is over: drop what did not come back
		}
		return nil
	}
	err := sw.read(full, list, data)
	if err != nil {
		// Read it all again next time: some watches may not be armed.
		sw.mu.Lock()
		sw.full = true
		sw.mu.Unlock()
		sw.logErr(err)
		return err
	}
	sw.logErr(nil)
	sw.publish()
	return nil
}

// publish hands the list read to the watchers, except that for a while after the Registry
// got a new session (holdWindow) it keeps the instances last published that the reads no
// longer find. When this Registry's session expired, the providers' sessions most likely
// expired with it and their nodes are gone until each provider has a new session and
// re-creates them: a consumer reading first would publish a short or empty list while it
// reports itself healthy, so that nothing downstream (registry.Failover) holds it back. A
// provider that is really gone leaves the list at the end of the window, about a session
// timeout late, as late as its node would have vanished had it died alone.
func (sw *serviceWatch) publish() {
	list := dedupe(sw.nodes)
	sid := sw.r.conn.SessionID()
	now := time.Now()
	if sid != 0 && sid != sw.session {
		if sw.session != 0 {
			sw.holdUntil = now.Add(sw.r.holdWindow())
		}
		sw.session = sid
	}
	if !sw.holdUntil.IsZero() && now.Before(sw.holdUntil) {
		if kept, n := hold.WithMissing(sw.bc.Get(), list); n > 0 {
			if sw.held == 0 {
				sw.r.log.Info("new ZooKeeper session: keeping providers not listed yet until they have had time to re-register",
					"service", sw.service, "kept", n, "until", sw.holdUntil.Format(time.RFC3339Nano))
			}
			sw.held = n
			sw.bc.Set(kept)
			return
		}
	} else {
		sw.holdUntil = time.Time{}
	}
	if sw.held > 0 {
		_, dropped := hold.WithMissing(sw.bc.Get(), list)
		sw.r.log.Info("providers kept after a new ZooKeeper session are back, or dropped now", "service", sw.service, "dropped", dropped)
		sw.held = 0
	}
	sw.bc.Set(list)
}

func (sw *serviceWatch) read(full, list bool, data map[string]bool) error {
	r := sw.r
	if !full && !list {
		for name := range data {
			if _, known := sw.nodes[name]; !known {
				continue
			}
			n, err := r.readNode(sw.service, sw.path, name, true)
			if err != nil {
				return err
			}
			if n == nil {
				delete(sw.nodes, name)
			} else {
				sw.nodes[name] = n
			}
		}
		r.forgetBad(sw.path, sw.nodes)
		return nil
	}
	children, err := sw.children()
	if err != nil {
		return err
	}
	next := make(map[string]*node, len(children))
	for _, name := range children {
		if n, known := sw.nodes[name]; known && !full && !data[name] {
			next[name] = n
			continue
		}
		n, err := r.readNode(sw.service, sw.path, name, true)
		if err != nil {
			return err
		}
		if n != nil {
			next[name] = n
		}
	}
	sw.nodes = next
	r.forgetBad(sw.path, next)
	return nil
}

// children lists the providers node and arms a child watch on it; while the node does not
// exist it arms an exists watch instead, so that no consumer needs write access to create it.
func (sw *serviceWatch) children() ([]string, error) {
	r := sw.r
	for range 3 {
		children, _, _, err := r.conn.ChildrenW(sw.path)
		if err == nil {
			return children, nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return nil, r.wrapErr("watch", sw.path, err)
		}
		exists, _, _, err := r.conn.ExistsW(sw.path)
		if err != nil {
			return nil, r.wrapErr("watch", sw.path, err)
		}
		if !exists {
			return nil, nil
		}
		// Created between the two calls: list it.
	}
	return nil, fmt.Errorf("zookeeper: watch %s: %w: the node keeps appearing and vanishing", sw.path, registry.ErrUnavailable)
}

// logErr logs a failed read once per distinct problem, and its recovery; lost connections
// are the keeper's to report.
func (sw *serviceWatch) logErr(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == sw.lastErr {
		return
	}
	prev := sw.lastErr
	sw.lastErr = msg
	switch {
	case err != nil && !sw.r.connected.Load():
	case err != nil:
		sw.r.log.Warn("cannot read the providers of a service; retrying", "service", sw.service, "err", err)
	case prev != "":
		sw.r.log.Info("reading the providers of a service again", "service", sw.service)
	}
}
