package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/connectivity"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/registry"
)

// Registry is a registry.Registry stored in etcd. Its methods are safe for concurrent use.
// The zero value is not usable; call New.
type Registry struct {
	cli  *clientv3.Client
	opts options
	log  *slog.Logger

	// ctx lives until Close; it bounds the keeper and the watches.
	ctx        context.Context
	cancel     context.CancelFunc
	keeperDone chan struct{}

	// sem serialises changes to the lease and to own, including the keeper's recovery,
	// which talks to the server while holding it; a channel rather than a mutex so that a
	// caller waiting for it can give up when its ctx ends.
	sem      chan struct{}
	own      map[string]string // key -> JSON value of the instances this Registry registered
	lease    clientv3.LeaseID  // 0 when none is granted
	kaCh     <-chan *clientv3.LeaseKeepAliveResponse
	kaCancel context.CancelFunc
	leaseSet chan struct{} // wakes the keeper when a new lease replaced kaCh

	// reached is set once the connection has been up: see up.
	reached atomic.Bool

	mu          sync.Mutex
	closed      bool
	watches     map[string]*watch
	canaryStart sync.Once      // the canary starts with the first watch, under mu
	bg          sync.WaitGroup // the canary

	stallMu   sync.Mutex
	stalled   bool      // the canary lease went unanswered and is not back yet
	holdUntil time.Time // watches keep deleted instances until then (see canary)

	badMu sync.Mutex
	bad   map[string]int64 // malformed key -> ModRevision already logged
}

var (
	_ registry.Registry       = (*Registry)(nil)
	_ registry.HealthReporter = (*Registry)(nil)
)

// New connects to the etcd cluster at endpoints (host:port or http(s)://host:port) and
// reads the prefix once, so that refused credentials and TLS mismatches fail here: with
// ErrAuth, or registry.ErrUnavailable saying what failed in the TLS handshake. Bad options
// give ErrInvalidConfig.
//
// When no endpoint answers within about a second (and ctx), New still returns the Registry,
// as the registry package's contract says: it keeps connecting with the WithRetry backoff,
// Healthy reports false meanwhile, registrations are kept and land once the server answers,
// and watches start empty and deliver then. ctx bounds only the opening; Close ends the
// Registry.
func New(ctx context.Context, endpoints []string, opts ...Option) (*Registry, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	cli, reachable, err := dial(ctx, endpoints, &o, o.prefix+"/", true)
	if err != nil {
		return nil, err
	}
	if !reachable && !o.lazy {
		o.log.Warn("etcd: no endpoint answers; connecting in the background", "endpoints", endpoints, "retry_max", o.retry.Max)
	}
	r := &Registry{
		cli:        cli,
		opts:       o,
		log:        o.log.With("registry", "etcd", "prefix", o.prefix),
		keeperDone: make(chan struct{}),
		sem:        make(chan struct{}, 1),
		own:        map[string]string{},
		leaseSet:   make(chan struct{}, 1),
		watches:    map[string]*watch{},
		bad:        map[string]int64{},
	}
	r.reached.Store(reachable)
	if !reachable {
		// Start connecting now rather than at the first request.
		cli.ActiveConnection().Connect()
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.keep()
	return r, nil
}

// Client returns the underlying etcd client, for operations this package does not offer.
// It is closed by Close.
func (r *Registry) Client() *clientv3.Client { return r.cli }

// Prefix returns the key prefix, without a trailing slash.
func (r *Registry) Prefix() string { return r.opts.prefix }

// ServicePrefix returns the prefix of a service's keys, ending in a slash.
func (r *Registry) servicePrefix(service string) string {
	return r.opts.prefix + "/" + service + "/"
}

// Key returns the key under which an instance is stored: <prefix>/<service>/<id>.
func (r *Registry) Key(service, id string) string { return r.servicePrefix(service) + id }

// lock acquires sem unless ctx or the Registry ends first.
func (r *Registry) lock(ctx context.Context) error {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.ctx.Done():
		return registry.ErrClosed
	}
	if r.ctx.Err() != nil {
		<-r.sem
		return registry.ErrClosed
	}
	return nil
}

func (r *Registry) unlock() { <-r.sem }

// Register stores the instance under its key with this Registry's lease, granting the lease
// on first use, and keeps it there until Deregister or Close, re-registering it by itself
// whenever the lease is lost. Errors wrap registry.ErrInvalidInstance, registry.ErrClosed,
// ErrAuth or registry.ErrUnavailable.
//
// When etcd cannot be reached (within ctx, and the dial timeout while the connection is
// down) the error wraps registry.ErrUnavailable and the instance is kept: the Registry puts
// it as soon as the server answers, unless Deregister or Close comes first. After other
// errors nothing is kept.
func (r *Registry) Register(ctx context.Context, in *registry.Instance) error {
	if err := in.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("etcd: encode instance %q: %w: %w", in.ID, registry.ErrInvalidInstance, err)
	}
	key, val := r.Key(in.Service, in.ID), string(data)
	if err := r.lock(ctx); err != nil {
		return r.opError("register "+key, err)
	}
	defer r.unlock()
	ctx, cancel := r.bound(ctx)
	defer cancel()
	prev, had := r.own[key]
	r.own[key] = val
	err = r.putLocked(ctx, key, val)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		// The lease ended before the keeper noticed: replace it and put everything back.
		r.dropLeaseLocked()
		err = r.regrantLocked(ctx)
	}
	if err == nil {
		return nil
	}
	err = r.opError("register "+key, err)
	if errors.Is(err, registry.ErrUnavailable) {
		// Keep it, and have the keeper put everything under a new lease once the server
		// answers: a put that timed out may or may not have been applied.
		r.dropLeaseLocked()
		select {
		case r.leaseSet <- struct{}{}:
		default:
		}
		return fmt.Errorf("%w (kept: it is registered once etcd answers)", err)
	}
	if had {
		r.own[key] = prev
	} else {
		delete(r.own, key)
	}
	return err
}

// putLocked puts one entry with the current lease, granting one if there is none.
func (r *Registry) putLocked(ctx context.Context, key, val string) error {
	if r.lease == 0 {
		return r.regrantLocked(ctx)
	}
	_, err := r.cli.Put(ctx, key, val, clientv3.WithLease(r.lease))
	return err
}

// regrantLocked grants a new lease, starts keeping it alive and puts every entry of own
// under it. On error no lease is kept.
func (r *Registry) regrantLocked(ctx context.Context) error {
	g, err := r.cli.Grant(ctx, r.opts.ttlSeconds())
	if err != nil {
		return err
	}
	kctx, kcancel := context.WithCancel(r.ctx)
	ch, err := r.cli.KeepAlive(kctx, g.ID)
	if err != nil {
		kcancel()
		return err
	}
	r.lease, r.kaCh, r.kaCancel = g.ID, ch, kcancel
	if err := r.putAllLocked(ctx); err != nil {
		r.dropLeaseLocked()
		return err
	}
	select {
	case r.leaseSet <- struct{}{}:
	default:
	}
	return nil
}

// maxTxnOps stays under etcd's default --max-txn-ops of 128.
const maxTxnOps = 100

func (r *Registry) putAllLocked(ctx context.Context) error {
	ops := make([]clientv3.Op, 0, min(len(r.own), maxTxnOps))
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, err := r.cli.Txn(ctx).Then(ops...).Commit()
		ops = ops[:0]
		return err
	}
	for k, v := range r.own {
		ops = append(ops, clientv3.OpPut(k, v, clientv3.WithLease(r.lease)))
		if len(ops) == maxTxnOps {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// dropLeaseLocked forgets the current lease and stops its keep-alive; the lease itself
// expires on the server, or already has.
func (r *Registry) dropLeaseLocked() {
	if r.kaCancel != nil {
		r.kaCancel()
	}
	r.lease, r.kaCh, r.kaCancel = 0, nil, nil
}

// keep watches the lease's keep-alive channel and, when it closes (the lease expired, was
// revoked, or went unanswered for a TTL because the server was down), or when instances were
// registered while the server could not be reached, grants a new lease and puts every
// instance again, retrying with capped backoff for as long as the Registry lives.
func (r *Registry) keep() {
	defer close(r.keeperDone)
	for {
		if r.lock(r.ctx) != nil {
			return
		}
		ch := r.kaCh
		// Instances but no lease: registered while the server could not be reached.
		orphans := ch == nil && len(r.own) > 0
		r.unlock()
		if ch == nil && !orphans {
			select {
			case <-r.leaseSet:
				continue
			case <-r.ctx.Done():
				return
			}
		}
		if ch != nil && !r.drain(ch) {
			continue // a new lease replaced ch, or the Registry closed
		}
		for attempt := 0; ; attempt++ {
			if !r.waitConnected() {
				return
			}
			err := r.recover(ch)
			if err == nil {
				break
			}
			if errors.Is(err, registry.ErrClosed) || r.ctx.Err() != nil {
				return
			}
			d := r.opts.retry.Delay(attempt)
			r.log.Warn("etcd: cannot put this Registry's instances under a new lease; retrying", "attempt", attempt+1, "retry_in", d, "err", err)
			if !backoff.Sleep(r.ctx, d) {
				return
			}
		}
	}
}

// waitConnected waits until the client's connection is up (or idle, which means nothing
// failed), so that the keeper does not hold sem, and with it every Register and
// Deregister, through requests that cannot be answered. It reports false when the
// Registry closes first.
func (r *Registry) waitConnected() bool {
	conn := r.cli.ActiveConnection()
	for {
		st := conn.GetState()
		if r.up(st) {
			return true
		}
		if st == connectivity.Idle {
			conn.Connect()
		}
		if !conn.WaitForStateChange(r.ctx, st) {
			return false
		}
	}
}

// drain reads keep-alive responses until ch closes (true) or a new lease is set or the
// Registry closes (false).
func (r *Registry) drain(ch <-chan *clientv3.LeaseKeepAliveResponse) bool {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return r.ctx.Err() == nil
			}
		case <-r.leaseSet:
			return false
		case <-r.ctx.Done():
			return false
		}
	}
}

// recover replaces the lease whose keep-alive channel lost was, unless another lease already
// replaced it.
func (r *Registry) recover(lost <-chan *clientv3.LeaseKeepAliveResponse) error {
	if err := r.lock(r.ctx); err != nil {
		return err
	}
	defer r.unlock()
	if r.kaCh != nil && r.kaCh != lost {
		return nil
	}
	old := r.lease
	r.dropLeaseLocked()
	if len(r.own) == 0 {
		return nil // the next Register grants a lease
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.dialTimeout)
	defer cancel()
	if err := r.regrantLocked(ctx); err != nil {
		return err
	}
	if lost == nil {
		r.log.Info("etcd: registered the instances kept while the server could not be reached", "lease", fmt.Sprintf("%x", r.lease), "instances", len(r.own))
		return nil
	}
	r.log.Info("etcd: lease lost; registered again under a new lease", "old_lease", fmt.Sprintf("%x", old), "lease", fmt.Sprintf("%x", r.lease), "instances", len(r.own))
	return nil
}

// Deregister deletes the instance's key. Deleting a key that is not there is not an error.
// When etcd cannot be reached the error wraps registry.ErrUnavailable; an instance this
// Registry registered is forgotten anyway, and its entry leaves within the lease TTL once
// etcd answers.
func (r *Registry) Deregister(ctx context.Context, in *registry.Instance) error {
	if err := in.ValidateKey(); err != nil {
		return err
	}
	key := r.Key(in.Service, in.ID)
	if err := r.lock(ctx); err != nil {
		return r.opError("deregister "+key, err)
	}
	defer r.unlock()
	ctx, cancel := r.bound(ctx)
	defer cancel()
	if _, err := r.cli.Delete(ctx, key); err != nil {
		err = r.opError("deregister "+key, err)
		if _, mine := r.own[key]; !mine || !errors.Is(err, registry.ErrUnavailable) {
			return err
		}
		// Forget it now, or the keeper would put it back. The entry may still be on the
		// server under the current lease: let that lease expire, and have the keeper put
		// the other instances under a new one.
		delete(r.own, key)
		r.dropLeaseLocked()
		select {
		case r.leaseSet <- struct{}{}:
		default:
		}
		return fmt.Errorf("%w (forgotten: the entry leaves within the lease TTL once etcd answers)", err)
	}
	delete(r.own, key)
	return nil
}

// bound limits ctx to the dial timeout while the connection is down: the client waits for
// a connection as long as ctx allows, and a caller that gave no deadline would otherwise
// wait for the whole outage.
func (r *Registry) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.Healthy() {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.opts.dialTimeout)
}

// GetService reads the instances of a service, sorted by ID; malformed entries are skipped
// and logged once.
func (r *Registry) GetService(ctx context.Context, service string) ([]*registry.Instance, error) {
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, r.opError("get "+service, registry.ErrClosed)
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	resp, err := r.cli.Get(ctx, r.servicePrefix(service), clientv3.WithPrefix())
	if err != nil {
		return nil, r.opError("get "+service, err)
	}
	list := make([]*registry.Instance, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if in := r.decode(service, kv); in != nil {
			list = append(list, in)
		}
	}
	registry.SortInstances(list)
	return list, nil
}

// decode parses an entry of service, or logs why it cannot (once per entry version) and
// returns nil.
func (r *Registry) decode(service string, kv *mvccpb.KeyValue) *registry.Instance {
	key := string(kv.Key)
	id := strings.TrimPrefix(key, r.servicePrefix(service))
	in, err := decodeInstance(service, id, kv.Value)
	if err == nil {
		r.badMu.Lock()
		delete(r.bad, key)
		r.badMu.Unlock()
		return in
	}
	r.badMu.Lock()
	logged := r.bad[key] == kv.ModRevision
	r.bad[key] = kv.ModRevision
	r.badMu.Unlock()
	if !logged {
		r.log.Warn("etcd: skipping malformed instance entry", "key", key, "mod_revision", kv.ModRevision, "err", err)
	}
	return nil
}

// forget drops the record of a deleted key, so a malformed value written there later is
// logged again.
func (r *Registry) forget(key string) {
	r.badMu.Lock()
	delete(r.bad, key)
	r.badMu.Unlock()
}

// decodeInstance parses the JSON value stored under <prefix>/<service>/<id>.
func decodeInstance(service, id string, value []byte) (*registry.Instance, error) {
	var in registry.Instance
	if err := json.Unmarshal(value, &in); err != nil {
		return nil, fmt.Errorf("%w: value is not an instance in JSON: %w", registry.ErrInvalidInstance, err)
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if in.Service != service || in.ID != id {
		return nil, fmt.Errorf("%w: entry holds instance %q of %q, which belongs under another key", registry.ErrInvalidInstance, in.ID, in.Service)
	}
	return &in, nil
}

// Healthy reports whether the client's connection to etcd is up (or idle once it has been up,
// which means nothing failed since). Failover uses it to hold an empty list caused by an
// outage.
func (r *Registry) Healthy() bool {
	return !r.isClosed() && r.up(r.cli.ActiveConnection().GetState())
}

// up reports whether a connection state means the server can be reached: ready, or idle
// after the connection has been up once (a client that never reached the server is idle
// until its first request, and that says nothing).
func (r *Registry) up(st connectivity.State) bool {
	switch st {
	case connectivity.Ready:
		r.reached.Store(true)
		return true
	case connectivity.Idle:
		return r.reached.Load()
	}
	return false
}

func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// opError wraps an error of an operation on the server for the caller.
func (r *Registry) opError(what string, err error) error {
	if errors.Is(err, registry.ErrClosed) {
		return fmt.Errorf("etcd: %s: %w", what, err)
	}
	return classify(what, err)
}

// Close revokes this Registry's lease, which deletes every instance it registered at once,
// stops its watchers (their Next returns registry.ErrWatcherStopped) and closes the client.
// If the server cannot be reached, the instances leave when their lease expires. Later calls
// return registry.ErrClosed; a second Close returns nil.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	watches := r.watches
	r.watches = nil
	r.mu.Unlock()

	r.cancel()
	<-r.keeperDone
	// Wait for a Register in flight; lock cannot be used as r.ctx has ended.
	r.sem <- struct{}{}
	lease := r.lease
	r.dropLeaseLocked()
	r.own = nil
	<-r.sem
	if lease != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.dialTimeout)
		if _, err := r.cli.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			r.log.Warn("etcd: could not revoke the lease on Close; its instances stay listed until it expires", "ttl", r.opts.ttl, "err", err)
		}
		cancel()
	}
	for _, w := range watches {
		w.close()
	}
	r.bg.Wait()
	return r.cli.Close()
}
