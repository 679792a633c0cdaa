package file

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// watch is the one scanner of a watched service in a Registry, shared by all its watchers.
type watch struct {
	sd   *serviceDir
	bc   *registry.Broadcast
	refs int // watchers not yet stopped; guarded by Registry.mu

	kick     chan struct{} // a change may have happened: rescan now
	stop     chan struct{}
	done     chan struct{}
	haltOnce sync.Once
}

// Watch follows a service. The first Next returns the entries listed when Watch returned;
// later lists come from rescans, triggered by file-system events and run every poll
// interval. Watch creates the service's directory so that it can be watched.
func (r *Registry) Watch(ctx context.Context, service string) (registry.Watcher, error) {
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("file: watch %q: %w", service, registry.ErrClosed)
	}
	w := r.watches[service]
	if w == nil {
		var err error
		if w, err = r.startWatch(service); err != nil {
			return nil, fmt.Errorf("file: watch %q: %w: %w", service, registry.ErrUnavailable, err)
		}
	}
	w.refs++
	return w.bc.Watch(func() { r.unwatch(service, w) }), nil
}

// startWatch starts the scanner of a service; r.mu is held.
func (r *Registry) startWatch(service string) (*watch, error) {
	sd, ok := r.dirs[service]
	if !ok {
		sd = newServiceDir(r.dir, service)
		r.dirs[service] = sd
	}
	if err := os.MkdirAll(sd.path, 0o755); err != nil {
		return nil, err
	}
	list, err := sd.scan(&r.scan)
	if err != nil {
		return nil, err
	}
	w := &watch{
		sd:   sd,
		bc:   registry.NewBroadcast(list),
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if r.notify == nil && r.notifyErr == nil {
		r.notify, r.notifyErr = newNotifier(r.scan.log)
		if r.notifyErr != nil {
			r.scan.log.Warn("file-system notifications unavailable; polling registry directories", "err", r.notifyErr, "poll interval", r.opts.poll)
		}
	}
	if r.notify != nil {
		r.notify.watch(sd.path, w.kick)
	}
	r.watches[service] = w
	go r.follow(w, r.notify)
	return w, nil
}

// unwatch runs when a watcher stops; the last one stops the service's scanner.
func (r *Registry) unwatch(service string, w *watch) {
	r.mu.Lock()
	w.refs--
	last := w.refs == 0 && r.watches[service] == w
	if last {
		delete(r.watches, service)
		if r.notify != nil {
			r.notify.unwatch(w.sd.path)
		}
	}
	r.mu.Unlock()
	if last {
		w.halt()
	}
}

// halt stops the scanner and waits for it, so that a stopped watcher leaves no goroutine.
func (w *watch) halt() {
	w.haltOnce.Do(func() { close(w.stop) })
	<-w.done
}

// wakeWatch makes the scanner of a service rescan now, after this Registry changed one of
// its entries, so that its own watchers need not wait for fsnotify or the poll.
func (r *Registry) wakeWatch(service string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.watches[service]; w != nil {
		wake(w.kick)
	}
}

// follow rescans a watched service on every wake-up and poll tick and publishes the list.
// A scan that fails (the directory became unreadable) keeps the last list and is logged
// once, until scans succeed again.
func (r *Registry) follow(w *watch, n *notifier) {
	defer close(w.done)
	t := time.NewTicker(r.opts.poll)
	defer t.Stop()
	var failing string
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			if n != nil {
				n.ensure(w.sd.path)
			}
		case <-w.kick:
		}
		list, err := w.sd.scan(&r.scan)
		if err != nil {
			if err.Error() != failing {
				failing = err.Error()
				r.scan.log.Warn("cannot scan registry directory; keeping the last list", "dir", w.sd.path, "err", err)
			}
			continue
		}
		if failing != "" {
			failing = ""
			r.scan.log.Info("scanning registry directory again", "dir", w.sd.path)
		}
		w.bc.Set(list)
	}
}
