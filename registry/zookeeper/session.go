package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/registry"
)

// onEvent receives every go-zookeeper event. It runs on the library's goroutines and must not
// block: it records state and wakes the keeper or a service's watch.
func (r *Registry) onEvent(ev zk.Event) {
	switch ev.Type {
	case zk.EventSession:
		if ev.State == zk.StateConnected || ev.State == zk.StateHasSession {
			r.reachedOnce.Do(func() { close(r.reached) })
		}
		up := ev.State == zk.StateHasSession
		if r.connected.Swap(up) != up || up {
			if !up {
				r.setReady(false)
			}
			select {
			case r.keepKick <- struct{}{}:
			default:
			}
		}
	case zk.EventNodeChildrenChanged, zk.EventNodeCreated, zk.EventNodeDeleted, zk.EventNodeDataChanged:
		r.route(ev)
	}
}

func (r *Registry) setReady(ready bool) {
	r.readyMu.Lock()
	defer r.readyMu.Unlock()
	if r.ready == ready {
		return
	}
	r.ready = ready
	if ready {
		close(r.readyCh)
	} else {
		r.readyCh = make(chan struct{})
	}
}

// Healthy reports whether the Registry has an authenticated ZooKeeper session. While it has
// none, consumers should keep the lists they have (registry.Failover does).
func (r *Registry) Healthy() bool {
	r.readyMu.Lock()
	defer r.readyMu.Unlock()
	return r.ready
}

// holdWindow is how long after a new session the watches keep instances they no longer find.
// The expiry that ended this Registry's session has most likely ended the providers' sessions
// too, and deleted their nodes; each provider re-creates them once it has a session of its
// own, which a provider reconnecting with the same settings gets within about a session
// timeout, or a round of reconnection backoff (plus go-zookeeper's second) when longer.
func (r *Registry) holdWindow() time.Duration {
	return max(r.opts.sessionTimeout, r.opts.reconnect.Max+time.Second)
}

// openWait is how long New waits for a server to accept the connection (the registry
// package's contract).
const openWait = time.Second

// waitOpen waits for an authenticated session, but gives up after openWait unless a server
// has accepted the connection by then: a session and credentials then follow within the
// session timeout, and New can report refused credentials.
func (r *Registry) waitOpen(ctx context.Context) error {
	t := time.NewTimer(openWait)
	defer t.Stop()
	select {
	case <-r.reached:
		return r.waitReady(ctx)
	case <-t.C:
		select {
		case <-r.reached:
			return r.waitReady(ctx)
		default:
		}
		return fmt.Errorf("%w: no ZooKeeper server of %v accepted a connection within %v", registry.ErrUnavailable, r.servers, openWait)
	case <-ctx.Done():
		return fmt.Errorf("%w: no ZooKeeper session with %v: %w", registry.ErrUnavailable, r.servers, ctx.Err())
	}
}

// waitReady waits for an authenticated session, at most until ctx is done or the session
// timeout passed: beyond that the server is down rather than reconnecting.
func (r *Registry) waitReady(ctx context.Context) error {
	r.readyMu.Lock()
	ready, ch := r.ready, r.readyCh
	r.readyMu.Unlock()
	if ready {
		return nil
	}
	t := time.NewTimer(r.opts.sessionTimeout)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-r.stop:
		return registry.ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("%w: no ZooKeeper session with %v: %w", registry.ErrUnavailable, r.servers, ctx.Err())
	case <-t.C:
		return fmt.Errorf("%w: no ZooKeeper session with %v within %v", registry.ErrUnavailable, r.servers, r.opts.sessionTimeout)
	}
}

func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// keep runs for the life of the Registry. Whenever a session is established (the first, a
// reconnection, or a new one after expiry) it re-sends the credentials if the library does
// not know them yet, re-creates this Registry's ephemeral nodes where they are missing or
// belong to an older session, deletes nodes deregistered while disconnected, and makes every
// watched service re-read its providers and re-arm its watches. Failures are retried with
// capped backoff while the session lasts.
func (r *Registry) keep() {
	defer r.bg.Done()
	var session int64
	wasUp, pending, attempt := false, false, 0
	for {
		if !pending {
			select {
			case <-r.stop:
				return
			case <-r.keepKick:
			}
		}
		pending = false
		if !r.connected.Load() {
			r.setReady(false)
			if wasUp {
				r.log.Warn("lost the ZooKeeper connection; consumers keep their lists, reconnecting", "servers", r.servers)
			}
			wasUp, attempt = false, 0
			continue
		}
		sid := r.conn.SessionID()
		switch {
		case session != 0 && sid != session:
			r.log.Warn("ZooKeeper session expired; re-creating nodes and watches in a new session",
				"old_session", fmt.Sprintf("%#x", session), "session", fmt.Sprintf("%#x", sid))
		case !wasUp:
			r.log.Info("connected to ZooKeeper", "session", fmt.Sprintf("%#x", sid))
		}
		wasUp = true
		if err := r.resync(sid); err != nil {
			if r.isClosed() {
				return
			}
			if !r.connected.Load() {
				continue // the reconnection will kick again
			}
			r.log.Warn("cannot restore state in the ZooKeeper session; retrying", "attempt", attempt+1, "err", err)
			t := time.NewTimer(backoff.Default.Delay(attempt))
			select {
			case <-r.stop:
				t.Stop()
				return
			case <-r.keepKick:
				t.Stop()
			case <-t.C:
			}
			attempt++
			pending = true
			continue
		}
		session, attempt = sid, 0
	}
}

func (r *Registry) resync(sid int64) error {
	if r.opts.user != "" && !r.authAdded {
		if err := r.conn.AddAuth("digest", []byte(r.opts.user+":"+r.opts.password)); err != nil {
			return fmt.Errorf("send credentials: %w", err)
		}
		r.authAdded = true
	}
	if !r.connected.Load() {
		return errors.New("connection lost")
	}
	r.setReady(true)
	var errs []error
	r.ownMu.Lock()
	keys := make([]string, 0, len(r.own))
	for k := range r.own {
		keys = append(keys, k)
	}
	gone := make([]string, 0, len(r.gone))
	for p := range r.gone {
		gone = append(gone, p)
	}
	r.ownMu.Unlock()
	for _, k := range keys {
		r.ownMu.Lock()
		if n := r.own[k]; n != nil {
			if err := r.ensureNode(n, sid); err != nil {
				errs = append(errs, err)
			}
		}
		r.ownMu.Unlock()
	}
	for _, p := range gone {
		r.ownMu.Lock()
		if r.gone[p] {
			if err := r.conn.Delete(p, -1); err == nil || errors.Is(err, zk.ErrNoNode) {
				delete(r.gone, p)
			} else {
				errs = append(errs, r.wrapErr("delete", p, err))
			}
		}
		r.ownMu.Unlock()
	}
	r.mu.Lock()
	for _, sw := range r.watches {
		sw.markFull()
	}
	r.mu.Unlock()
	r.apps.resync(sid)
	return errors.Join(errs...)
}

// ensureNode makes n's node exist with n's data and belong to session sid. A node left by an
// older session of this process (or by anyone else) is replaced: between a session's expiry
// and the server's clean-up, the old node may still be there, and would vanish later.
// The caller holds ownMu.
func (r *Registry) ensureNode(n *ownNode, sid int64) error {
	for range 5 {
		_, err := r.conn.Create(n.path, n.data, zk.FlagEphemeral, r.acl)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, zk.ErrNoNode):
			if err := r.ensureParents(path.Dir(n.path)); err != nil {
				return err
			}
			continue
		case !errors.Is(err, zk.ErrNodeExists):
			return r.wrapErr("create", n.path, err)
		}
		data, st, err := r.conn.Get(n.path)
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return r.wrapErr("read", n.path, err)
		}
		if st.EphemeralOwner == sid {
			if bytes.Equal(data, n.data) {
				return nil
			}
			_, err := r.conn.Set(n.path, n.data, st.Version)
			if err == nil {
				return nil
			}
			if !errors.Is(err, zk.ErrBadVersion) && !errors.Is(err, zk.ErrNoNode) {
				return r.wrapErr("update", n.path, err)
			}
			continue
		}
		r.log.Info("replacing a node left by another session", "node", n.path,
			"owner", fmt.Sprintf("%#x", st.EphemeralOwner), "session", fmt.Sprintf("%#x", sid))
		if err := r.conn.Delete(n.path, st.Version); err != nil && !errors.Is(err, zk.ErrNoNode) && !errors.Is(err, zk.ErrBadVersion) {
			return r.wrapErr("delete stale", n.path, err)
		}
	}
	return fmt.Errorf("zookeeper: create %s: %w: the node kept changing under us", n.path, registry.ErrUnavailable)
}

// ensureParents creates p and its ancestors as persistent nodes where missing.
func (r *Registry) ensureParents(p string) error {
	if _, ok := r.parents.Load(p); ok {
		// Known to exist, yet a create under it failed: someone removed it.
		r.parents.Delete(p)
	}
	var missing []string
	for q := p; q != "/"; q = path.Dir(q) {
		if _, ok := r.parents.Load(q); ok {
			break
		}
		missing = append(missing, q)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		q := missing[i]
		_, err := r.conn.Create(q, nil, 0, r.acl)
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return r.wrapErr("create parent", q, err)
		}
		r.parents.Store(q, true)
	}
	return nil
}

// checkRoot creates the root node if needed and reads it, so that refused credentials show
// at New rather than at the first Register.
func (r *Registry) checkRoot() error {
	if err := r.ensureParents(r.opts.root); err != nil {
		return err
	}
	_, _, err := r.conn.Children(r.opts.root)
	return r.wrapErr("read", r.opts.root, err)
}
