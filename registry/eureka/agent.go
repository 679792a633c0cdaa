package eureka

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// agent keeps one registered instance in Eureka: it renews the lease every renewal
// interval, registers again when a renewal answers 404 (the server restarted or evicted the
// instance), and retries with backoff what the server did not take.
type agent struct {
	r       *Registry
	key     string
	app, id string

	mu     sync.Mutex // guards the desired state below
	info   *instanceJSON
	status Status
	dirty  int64
	want   uint64 // incremented on each change of info

	// sem is held for each exchange with the server about this instance, and guards what
	// the server is known to hold.
	sem        chan struct{}
	have       uint64 // the version of info the server holds; 0: none
	overridden bool   // the server holds our OUT_OF_SERVICE override

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

type agentState struct {
	info   *instanceJSON
	status Status
	dirty  int64
	want   uint64
}

func newAgent(r *Registry, key string, in *registry.Instance, info *instanceJSON) *agent {
	ctx, cancel := context.WithCancel(context.Background())
	return &agent{
		r: r, key: key, app: info.App, id: in.ID,
		info: info, status: info.Status, dirty: int64(info.LastDirtyTimestamp), want: 1,
		sem: make(chan struct{}, 1), wake: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
}

func (a *agent) desired() agentState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return agentState{info: a.info, status: a.status, dirty: a.dirty, want: a.want}
}

// update replaces the instance's data; info carries the current status.
func (a *agent) update(_ *registry.Instance, info *instanceJSON) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.info, a.dirty = info, int64(info.LastDirtyTimestamp)
	a.want++
}

func (a *agent) setStatus(s Status, dirty int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	info := *a.info
	info.Status, info.LastDirtyTimestamp = s, flexInt(dirty)
	a.info, a.status, a.dirty = &info, s, dirty
	a.want++
}

func (a *agent) kick() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// syncNow brings the server up to date for a caller, within ctx; on failure the agent keeps
// trying in the background.
func (a *agent) syncNow(ctx context.Context) error {
	// A Deregister or Close meanwhile aborts the exchange, so that a registration cannot
	// land after the cancellation.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(a.ctx, cancel)()
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		a.kick()
		if a.ctx.Err() != nil {
			return registry.ErrClosed
		}
		return fmt.Errorf("%w: %w", registry.ErrUnavailable, ctx.Err())
	}
	err := a.sync(ctx)
	<-a.sem
	if err != nil {
		a.kick()
		if a.ctx.Err() != nil {
			return fmt.Errorf("deregistered meanwhile: %w", err)
		}
	}
	return err
}

// sync sends what the server lacks of the desired state. The caller holds sem.
func (a *agent) sync(ctx context.Context) error {
	st := a.desired()
	if a.overridden && st.status != StatusOutOfService {
		// Eureka keeps an override over any registration: remove it first (which sets
		// the status given).
		err := a.r.override(ctx, http.MethodDelete, a.app, a.id, st.status, st.dirty)
		switch {
		case errors.Is(err, errLeaseUnknown):
			a.have = 0
		case err != nil:
			return err
		}
		a.overridden = false
	}
	if a.have != st.want {
		if err := a.r.register(ctx, st.info); err != nil {
			return err
		}
		a.have = st.want
	}
	if st.status == StatusOutOfService && !a.overridden {
		if err := a.r.override(ctx, http.MethodPut, a.app, a.id, st.status, st.dirty); err != nil {
			if errors.Is(err, errLeaseUnknown) {
				a.have = 0
			}
			return err
		}
		a.overridden = true
	}
	return nil
}

// inSync reports whether the server holds the desired state, as far as this agent knows.
// The caller holds sem.
func (a *agent) inSync() bool {
	st := a.desired()
	return a.have == st.want && a.overridden == (st.status == StatusOutOfService)
}

func (a *agent) renew(ctx context.Context) error {
	err := a.r.renew(ctx, a.app, a.id)
	if errors.Is(err, errLeaseUnknown) {
		a.r.log.Info("eureka: a renewal answered 404 (the server restarted or evicted the instance); registering again", "instance", a.key)
		a.have, a.overridden = 0, false
		return a.sync(ctx)
	}
	return err
}

// run renews the lease and retries failed exchanges until stop. The first registration is
// Register's own.
func (a *agent) run() {
	defer close(a.done)
	o := &a.r.opts
	delay := o.renewal
	failures := 0
	for {
		t := time.NewTimer(delay)
		woken := false
		select {
		case <-a.ctx.Done():
			t.Stop()
			return
		case <-a.wake:
			t.Stop()
			woken = true
		case <-t.C:
		}
		select {
		case a.sem <- struct{}{}:
		case <-a.ctx.Done():
			return
		}
		var err error
		switch {
		case !a.inSync():
			err = a.sync(a.ctx)
		case !woken:
			err = a.renew(a.ctx)
		}
		<-a.sem
		if a.ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			delay = o.retry.Delay(failures - 1)
			if failures == 1 {
				a.r.log.Warn("eureka: registration or renewal failed; retrying", "instance", a.key, "err", err)
			} else {
				a.r.log.Debug("eureka: registration or renewal failed again", "instance", a.key, "attempt", failures, "err", err)
			}
			continue
		}
		if failures > 0 {
			a.r.log.Info("eureka: instance registered again", "instance", a.key, "after_failures", failures)
		}
		failures, delay = 0, o.renewal
	}
}

// stop ends the agent and waits for an exchange in flight to end, so that nothing it sends
// reaches the server after the caller's cancellation.
func (a *agent) stop() {
	a.cancel()
	<-a.done
	a.sem <- struct{}{}
}
