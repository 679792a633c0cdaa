package etcd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/registry"
)

// watch follows one service's prefix for every watcher of this Registry. The etcd client
// resumes a watch stream by itself after a reconnect, from the revision after the last one
// it delivered; when the stream ends anyway (compaction, cancellation by the server), the
// loop here starts a new one from rev+1, or re-lists first when that revision is compacted.
type watch struct {
	r       *Registry
	service string
	prefix  string
	bc      *registry.Broadcast
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}

	// Owned by the run goroutine after start.
	rev       int64                         // the revision the current state reflects
	instances map[string]*registry.Instance // by key, valid entries only
	held      map[string]*registry.Instance // by key: deleted during a stall's hold (see canary)
	relist    bool                          // rev and instances must be read first
	watchers  int                           // guarded by r.mu
}

// Watch follows a service. The first Next returns the list read when the watch started.
// ctx bounds only that first read. While the server cannot be reached (Healthy is false and
// the read gets no answer within about a second), the watch starts from an empty list and
// delivers the service's list once the server answers, as the registry package's contract
// says. All watchers of one service on one Registry share one etcd watch.
func (r *Registry) Watch(ctx context.Context, service string) (registry.Watcher, error) {
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("etcd: watch %q: %w", service, registry.ErrClosed)
	}
	w, ok := r.watches[service]
	if ok {
		w.watchers++
		r.mu.Unlock()
		return w.bc.Watch(w.release), nil
	}
	r.mu.Unlock()

	w = &watch{r: r, service: service, prefix: r.servicePrefix(service), done: make(chan struct{}),
		held: map[string]*registry.Instance{}}
	lctx := ctx
	if !r.Healthy() {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, openWait)
		defer cancel()
	}
	if err := w.list(lctx); err != nil {
		err = r.opError("watch "+service, err)
		if !errors.Is(err, registry.ErrUnavailable) || errors.Is(ctx.Err(), context.Canceled) {
			return nil, err
		}
		// The server does not answer: start empty; run lists first.
		w.instances, w.relist = map[string]*registry.Instance{}, true
	}
	w.bc = registry.NewBroadcast(w.current())

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("etcd: watch %q: %w", service, registry.ErrClosed)
	}
	if other, ok := r.watches[service]; ok {
		// Another caller started the same watch meanwhile: share theirs.
		other.watchers++
		return other.bc.Watch(other.release), nil
	}
	w.watchers = 1
	w.ctx, w.cancel = context.WithCancel(r.ctx)
	r.watches[service] = w
	r.canaryStart.Do(func() {
		r.bg.Add(1)
		go r.canary()
	})
	go w.run()
	return w.bc.Watch(w.release), nil
}

// release ends the etcd watch when the service's last watcher stops.
func (w *watch) release() {
	w.r.mu.Lock()
	w.watchers--
	last := w.watchers == 0 && w.r.watches[w.service] == w
	if last {
		delete(w.r.watches, w.service)
	}
	w.r.mu.Unlock()
	if last {
		w.close()
	}
}

// close stops the loop, waits for it and stops the watchers still attached.
func (w *watch) close() {
	w.cancel()
	<-w.done
	w.bc.Close()
}

// list reads the service's entries and the revision they were read at.
func (w *watch) list(ctx context.Context) error {
	resp, err := w.r.cli.Get(ctx, w.prefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	w.instances = make(map[string]*registry.Instance, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if in := w.r.decode(w.service, kv); in != nil {
			w.instances[string(kv.Key)] = in
		}
	}
	w.rev = resp.Header.Revision
	return nil
}

func (w *watch) current() []*registry.Instance {
	return slices.Collect(maps.Values(w.instances))
}

// drop removes the instance under key; while a stall's hold lasts, it is kept in held.
func (w *watch) drop(key string) {
	if in, ok := w.instances[key]; ok {
		if holding, _ := w.r.holding(); holding {
			w.held[key] = in
		}
		delete(w.instances, key)
	}
}

// publish hands the current list to the watchers, with the instances held since a stall
// while the hold lasts.
func (w *watch) publish() {
	list := w.current()
	if holding, _ := w.r.holding(); holding {
		for key, in := range w.held {
			if _, back := w.instances[key]; !back {
				list = append(list, in)
			}
		}
	} else if len(w.held) > 0 {
		dropped := 0
		for key := range w.held {
			if _, back := w.instances[key]; !back {
				dropped++
			}
		}
		w.r.log.Info("etcd: end of the hold after a stall", "service", w.service, "dropped", dropped)
		clear(w.held)
	}
	w.bc.Set(list)
}

// holdTimer fires when the held instances should be looked at again: at the end of the
// hold, or every second while the stall lasts. It is nil when nothing is held.
func (w *watch) holdTimer() *time.Timer {
	if len(w.held) == 0 {
		return nil
	}
	d := time.Second
	if _, until := w.r.holding(); !until.IsZero() {
		d = max(time.Until(until), 0)
	}
	return time.NewTimer(d)
}

func (w *watch) run() {
	defer close(w.done)
	log := w.r.log.With("service", w.service)
	attempt := 0
	relist := w.relist
	for w.ctx.Err() == nil {
		if relist {
			before := w.instances
			ctx, cancel := context.WithTimeout(w.ctx, w.r.opts.dialTimeout)
			err := w.list(ctx)
			cancel()
			if err != nil {
				if w.ctx.Err() != nil {
					return
				}
				d := w.r.opts.retry.Delay(attempt)
				log.Warn("etcd: re-listing a watched service failed; retrying", "retry_in", d, "err", err)
				attempt++
				backoff.Sleep(w.ctx, d)
				continue
			}
			relist = false
			if holding, _ := w.r.holding(); holding {
				for key, in := range before {
					if _, ok := w.instances[key]; !ok {
						w.held[key] = in
					}
				}
			}
			w.publish()
		}
		var err error
		relist, err = w.follow()
		if w.ctx.Err() != nil {
			return
		}
		if err == nil {
			attempt = 0
			continue
		}
		d := w.r.opts.retry.Delay(attempt)
		if relist {
			log.Info("etcd: watched revision was compacted; re-listing", "revision", w.rev, "err", err)
			d = 0
		} else {
			log.Warn("etcd: watch ended; resuming from the last seen revision", "revision", w.rev, "retry_in", d, "err", err)
			attempt++
		}
		backoff.Sleep(w.ctx, d)
	}
}

// follow runs one etcd watch from w.rev+1 and applies its events until it ends. It reports
// whether the state must be re-listed (the revision was compacted) and why the watch ended;
// a nil error means it ended after delivering events, and may simply be resumed.
func (w *watch) follow() (relist bool, err error) {
	// WithRequireLeader makes a member cut off from its cluster end the watch instead of
	// keeping it silently stale.
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(w.ctx))
	defer cancel()
	progressed := false
	events := w.r.cli.Watch(ctx, w.prefix, clientv3.WithPrefix(), clientv3.WithRev(w.rev+1))
	for {
		var resp clientv3.WatchResponse
		var open bool
		if t := w.holdTimer(); t != nil {
			select {
			case resp, open = <-events:
			case <-t.C:
				w.publish()
				continue
			}
			t.Stop()
		} else {
			resp, open = <-events
		}
		if !open {
			break
		}
		if err := resp.Err(); err != nil {
			if resp.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted) {
				return true, err
			}
			return false, err
		}
		if len(resp.Events) == 0 {
			continue // created or progress notification
		}
		for _, ev := range resp.Events {
			key := string(ev.Kv.Key)
			switch ev.Type {
			case clientv3.EventTypePut:
				delete(w.held, key)
				if in := w.r.decode(w.service, ev.Kv); in != nil {
					w.instances[key] = in
				} else {
					delete(w.instances, key)
				}
			case clientv3.EventTypeDelete:
				w.drop(key)
				w.r.forget(key)
			}
			// The event's own revision, not the header's: resuming from the header could
			// skip events of a batch the server has not sent yet.
			w.rev = ev.Kv.ModRevision
		}
		progressed = true
		w.publish()
	}
	if w.ctx.Err() != nil {
		return false, w.ctx.Err()
	}
	if progressed {
		return false, nil
	}
	return false, errors.New("watch channel closed")
}
