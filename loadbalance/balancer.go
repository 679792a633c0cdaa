package loadbalance

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/pickfirst"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rules"
)

// init adds the balancers to grpc's own registry, the one place grpc looks names up.
func init() {
	for name, alg := range algorithms {
		balancer.Register(builder{name: name, alg: alg})
	}
}

type builder struct {
	name string
	alg  pick.Algorithm
}

func (b builder) Name() string { return b.name }

func (b builder) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	c, err := ParseConfig(js)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.name, err)
	}
	return c, nil
}

// Build composes the balancer the way grpc's round_robin and least_request are built:
// endpointsharding keeps one pick_first child per endpoint (so an Endpoints-only resolver
// works, and an endpoint whose attributes change keeps its connection), and this balancer
// only replaces the picker endpointsharding makes over the ready children.
func (b builder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	lb := &lbBalancer{
		ClientConn: cc,
		name:       b.name,
		alg:        b.alg,
		stats:      map[string]*pick.Stats{},
		target:     opts.Target.String(),
	}
	lb.setLogger(slog.Default())
	lb.child = endpointsharding.NewBalancer(lb, opts, balancer.Get(pickfirst.Name).Build, endpointsharding.Options{})
	return lb
}

type lbBalancer struct {
	// Embedded so that the child's UpdateState calls come here.
	balancer.ClientConn
	child balancer.Balancer
	name  string
	alg   pick.Algorithm
	calls sync.Pool // *call records, so that timed picks allocate nothing

	// The logger comes from the resolver state (WithLogger), so it can change after Build.
	target  string
	logBase atomic.Pointer[slog.Logger] // as given, to tell whether a state brings another one
	log     atomic.Pointer[slog.Logger] // logBase with the balancer's name and target

	mu      sync.Mutex
	cfg     *Config
	opts    []pick.Option
	stats   map[string]*pick.Stats // by endpointKey; survives pickers, pruned with the endpoints
	missing error                  // why the version filter left no endpoint, if it did
	empty   bool                   // the resolver's last state had no endpoint
	resErr  error                  // the resolver's error while empty: why there is none
	last    balancer.State         // endpointsharding's last state, built again on a rules change
	closed  bool

	// The governance rules (WithRules) come with the resolver state too. unsub is written
	// only by UpdateClientConnState and Close, which grpc calls one at a time.
	rstore  *rules.Store
	service string
	unsub   func()
	hdrs    sync.Pool // *mdHeader records, for routes matching on metadata
}

func (b *lbBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	cfg, ok := s.BalancerConfig.(*Config)
	if !ok {
		if s.BalancerConfig != nil {
			return fmt.Errorf("%s: config of type %T: %w", b.name, s.BalancerConfig, balancer.ErrBadResolverState)
		}
		cfg, _ = ParseConfig(nil)
	}
	if l := loggerOf(s.ResolverState); l != nil && l != b.logBase.Load() {
		b.setLogger(l)
	}
	// Subscribed before b.mu is taken: a rules change calls in with the store's lock held
	// and then takes b.mu, so the other order could deadlock.
	var unsub, oldUnsub func()
	rv, hasRules := rulesOf(s.ResolverState)
	if hasRules && (rv.store != b.rstoreLoad() || b.unsub == nil) {
		unsub = rv.store.Subscribe(func(*rules.Rules) { b.rulesChanged() })
	}
	all := s.ResolverState.Endpoints
	kept := all
	var missing error
	if cfg.Version != "" {
		kept = make([]resolver.Endpoint, 0, len(all))
		for _, ep := range all {
			if in, ok := InstanceOf(ep); ok && in.Version == cfg.Version {
				kept = append(kept, ep)
			}
		}
		if len(kept) == 0 && len(all) > 0 {
			missing = fmt.Errorf("%w: none of the %d instances is of version %q", pick.ErrNoEndpoint, len(all), cfg.Version)
			b.log.Load().Warn("no instance passes the version filter", "version", cfg.Version, "instances", len(all))
		}
	}

	b.mu.Lock()
	if !cfg.statsEqual(b.cfg) {
		// New tuning: start the figures afresh rather than mix two settings.
		b.stats = map[string]*pick.Stats{}
	}
	b.cfg, b.opts, b.missing = cfg, cfg.options(), missing
	b.empty, b.resErr = len(all) == 0, nil
	if unsub != nil {
		oldUnsub, b.unsub = b.unsub, unsub
		b.rstore, b.service = rv.store, rv.service
	}
	b.mu.Unlock()
	if oldUnsub != nil {
		oldUnsub()
	}

	rs := s.ResolverState
	rs.Endpoints = kept
	// The pick_first children read health (and outlier detection) through the listener.
	return b.child.UpdateClientConnState(balancer.ClientConnState{ResolverState: pickfirst.EnableHealthListener(rs)})
}

func (b *lbBalancer) setLogger(l *slog.Logger) {
	b.log.Store(l.With("balancer", b.name, "target", b.target))
	b.logBase.Store(l)
}

// UpdateState receives endpointsharding's state and replaces its round-robin picker over
// the ready children with this balancer's picker.
func (b *lbBalancer) UpdateState(state balancer.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last = state
	b.buildLocked(state)
}

// rstoreLoad returns the rules store in use, nil without rules.
func (b *lbBalancer) rstoreLoad() *rules.Store {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rstore
}

// rulesChanged builds the picker again over the same children with the rules now in
// force: no connection is made or closed.
func (b *lbBalancer) rulesChanged() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.last.Picker == nil {
		return
	}
	b.buildLocked(b.last)
}

// buildLocked makes the picker over the ready children of state; b.mu must be held.
func (b *lbBalancer) buildLocked(state balancer.State) {
	children := endpointsharding.ChildStatesFromPicker(state.Picker)

	if len(children) == 0 && (b.missing != nil || b.resErr != nil) {
		b.failLocked(cmp.Or(b.missing, b.resErr))
		return
	}
	present := make(map[string]bool, len(children))
	var ready []endpointsharding.ChildState
	for _, c := range children {
		present[endpointKey(c.Endpoint)] = true
		if c.State.ConnectivityState == connectivity.Ready {
			ready = append(ready, c)
		}
	}
	for k := range b.stats {
		if !present[k] {
			delete(b.stats, k)
		}
	}
	if len(ready) == 0 {
		// Nothing to balance over: endpointsharding's picker queues or fails calls as the
		// children's states say.
		b.ClientConn.UpdateState(state)
		return
	}

	eps := make([]pick.Endpoint, len(ready))
	ids := make([]string, len(ready))
	for i, c := range ready {
		key := endpointKey(c.Endpoint)
		st := b.stats[key]
		if st == nil {
			opts := b.opts
			if b.rstore != nil {
				opts = append(slices.Clip(opts), pick.WithEjectionFrom(outlierOf(b.rstore, b.service)))
			}
			st = pick.NewStats(opts...)
			b.stats[key] = st
		}
		eps[i] = pick.Endpoint{Key: key, Stats: st}
		if in, ok := InstanceOf(c.Endpoint); ok {
			ids[i] = in.ID
			eps[i].Weight = in.EffectiveWeight()
			eps[i].Version, eps[i].Zone, eps[i].Tag = in.Version, in.Zone, in.Metadata[b.cfg.TagKey]
		} else {
			eps[i].Weight = registry.DefaultWeight
		}
	}
	if b.rstore != nil {
		reps := make([]rules.Endpoint, len(eps))
		for i := range eps {
			reps[i] = rules.Endpoint{ID: ids[i], Endpoint: eps[i]}
		}
		rp, err := rules.Compile(b.alg, reps, b.rstore.Load().For(b.service), pick.Filter{Zone: b.cfg.Zone}, b.opts...)
		if err != nil {
			// Every ready instance is out of traffic: calls fail with why, or wait for
			// an instance when they are wait-for-ready.
			b.log.Load().Warn("the rules leave no instance to call", "service", b.service, "err", err)
			b.failLocked(err)
			return
		}
		b.ClientConn.UpdateState(balancer.State{
			ConnectivityState: connectivity.Ready,
			Picker:            newPicker(b, nil, rp, ready, eps),
		})
		return
	}
	router, err := pick.NewRouter(b.alg, eps, pick.Filter{Zone: b.cfg.Zone}, b.opts...)
	if err != nil {
		// Cannot happen with a non-empty list and no version filter; keep grpc's picker.
		b.log.Load().Error("building picker", "err", err)
		b.ClientConn.UpdateState(state)
		return
	}
	b.ClientConn.UpdateState(balancer.State{
		ConnectivityState: connectivity.Ready,
		Picker:            newPicker(b, router, nil, ready, eps),
	})
}

// failLocked fails calls with err; b.mu must be held. err must not be a status error:
// grpc ends a call at once on a status error from the picker, even a wait-for-ready call,
// while with a plain error it fails other calls with Unavailable and err's message and
// lets wait-for-ready calls wait for an instance to appear.
func (b *lbBalancer) failLocked(err error) {
	b.ClientConn.UpdateState(balancer.State{
		ConnectivityState: connectivity.TransientFailure,
		Picker:            base.NewErrPicker(err),
	})
}

// ResolverError passes the error to the children, which keep serving the endpoints they
// have. With no endpoint at all, the error is why (Tianshu's resolver says which service has
// no instance), so calls fail with it rather than with endpointsharding's generic message.
func (b *lbBalancer) ResolverError(err error) {
	b.child.ResolverError(err)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.empty {
		b.resErr = err
		b.failLocked(err)
	}
}

func (b *lbBalancer) UpdateSubConnState(sc balancer.SubConn, s balancer.SubConnState) {
	b.log.Load().Error("UpdateSubConnState called unexpectedly", "subconn", sc, "state", s.ConnectivityState)
}

func (b *lbBalancer) ExitIdle() { b.child.ExitIdle() }

func (b *lbBalancer) Close() {
	b.child.Close()
	b.mu.Lock()
	b.closed = true
	unsub := b.unsub
	b.unsub = nil
	b.mu.Unlock()
	if unsub != nil {
		unsub()
	}
}

// endpointKey identifies an endpoint by its addresses, as grpc's EndpointMap does.
func endpointKey(ep resolver.Endpoint) string {
	if len(ep.Addresses) == 1 {
		return ep.Addresses[0].Addr
	}
	addrs := make([]string, len(ep.Addresses))
	for i, a := range ep.Addresses {
		addrs[i] = a.Addr
	}
	return strings.Join(addrs, ",")
}

// outlierOf returns the ejection thresholds of service's "*" policy in store, read when an
// endpoint fails at the transport: ejection is per endpoint of the service, not per method.
func outlierOf(store *rules.Store, service string) func() (int, time.Duration, time.Duration, bool) {
	return func() (int, time.Duration, time.Duration, bool) {
		p, ok := store.Load().PolicyFor(service, "*")
		if !ok || p.Outlier == nil {
			return 0, 0, 0, false
		}
		return p.Outlier.Failures, p.Outlier.Base, p.Outlier.Max, true
	}
}
