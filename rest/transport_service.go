package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/internal/rulespolicy"
	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rules"
)

// schemes are the endpoint schemes of the routes of a snapshot, by index.
var schemes = [2]string{schemeHTTP, schemeHTTPS}

// service is one service the Transport has been asked for: its watch, its breaker and the
// latest snapshot of its instances.
type service struct {
	name      string
	t         *Transport
	brk       breaker.Breaker // nil without breakers
	filter    pick.Filter
	budgets   rulespolicy.Cache[ruleBudget]  // the retry budgets of the rules (WithRules), by rule key
	circuits  rulespolicy.Cache[ruleCircuit] // the breakers of the rules, by rule key
	statsOpts []pick.Option                  // of its instances' figures: WithPickOptions, and the rules' outlier

	ready     chan struct{} // closed once the first list (or a watch error) is in
	readyOnce sync.Once
	state     atomic.Pointer[snapshot]

	// mu serialises building snapshots, from the watch's lists and from rules changes;
	// last is the watch's last list as endpoints, built again when the rules change.
	mu   sync.Mutex
	last *listing

	// Owned by the follow goroutine (and read by Close after it ended).
	insts   map[instKey]*instance
	skipped map[string]bool // instance IDs logged as having no endpoint the client speaks
}

// snapshot is what a request reads: the instances of one watch event, ready to pick from.
// It is replaced whole, never changed.
type snapshot struct {
	routes [2]*route // by index in schemes; nil when no instance has the scheme
	errs   [2]error  // why a route is nil despite instances (the version filter)
	listed int       // instances in the registry's list
	err    error     // the watch's error, when no list came yet
}

// route picks among the instances that serve one scheme: with router, or with the
// service's rules compiled (WithRules).
type route struct {
	router  *pick.Router
	rules   *rules.Picker
	insts   []*instance // by index in the router's list
	tagged  bool
	headers bool // some rule routes by header: hand the picker the request's headers
}

// listing is one list of the registry made into endpoints, by index in schemes.
type listing struct {
	n     int // instances listed
	insts [2][]*instance
	eps   [2][]rules.Endpoint
}

// instKey identifies an instance's endpoint: one instance with two schemes is two.
type instKey struct {
	id     string
	scheme int
	addr   string
}

// instance is one endpoint of one instance, with its own connections and figures, kept
// from one snapshot to the next while it stays listed.
type instance struct {
	addr    string
	rt      *http.Transport
	send    http.RoundTripper // rt, except in benchmarks of the client's own work
	stats   *pick.Stats
	open    atomic.Int64 // attempts sent and not yet done (response body not finished)
	removed atomic.Bool

	mu    sync.Mutex
	conns map[*trackedConn]struct{} // every connection dialled and not yet closed
}

// release ends one attempt; the last one to end on a removed instance closes its
// connections.
func (in *instance) release() {
	if in.open.Add(-1) == 0 && in.removed.Load() {
		in.closeConns()
	}
}

// retire marks an instance gone from the list. Its connections close now if no attempt is
// in flight, else when the last one ends (release); either side sees the other's write, so
// at least one closes them.
func (in *instance) retire() {
	in.removed.Store(true)
	if in.open.Load() == 0 {
		in.closeConns()
	}
}

// closeConns closes every connection of the instance. It is called when no attempt is in
// flight, so none is in use; closing them directly, rather than through
// CloseIdleConnections alone, also catches a connection that net/http is still handing back
// to its pool after the last response body ended.
func (in *instance) closeConns() {
	in.rt.CloseIdleConnections()
	in.mu.Lock()
	conns := make([]*trackedConn, 0, len(in.conns))
	for c := range in.conns {
		conns = append(conns, c)
	}
	in.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// track records a new connection of the instance.
func (in *instance) track(c net.Conn, err error) (net.Conn, error) {
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, in: in}
	in.mu.Lock()
	in.conns[tc] = struct{}{}
	in.mu.Unlock()
	return tc, nil
}

// trackedConn leaves its instance's set when closed.
type trackedConn struct {
	net.Conn
	in   *instance
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.in.mu.Lock()
		delete(c.in.conns, c)
		c.in.mu.Unlock()
	})
	return c.Conn.Close()
}

// newInstance makes the transport of one instance endpoint: the template, dialling addr
// whatever the request's host.
func (t *Transport) newInstance(addr string, opts []pick.Option) *instance {
	tmpl := t.cfg.template
	in := &instance{addr: addr, stats: pick.NewStats(opts...), conns: map[*trackedConn]struct{}{}}
	rt := tmpl.Clone()
	rt.Proxy = nil
	if tmpl.Protocols == nil && tmpl.TLSNextProto == nil && tmpl.TLSClientConfig == nil &&
		tmpl.DialContext == nil && tmpl.DialTLSContext == nil {
		// net/http turns HTTP/2 off for a transport with a dialer of its own unless told
		// otherwise; the dialer below is ours, so keep what the template would have done.
		rt.ForceAttemptHTTP2 = rt.ForceAttemptHTTP2 || tmpl.Dial == nil && tmpl.DialTLS == nil
	}
	dial := tmpl.DialContext
	if dial == nil {
		d := &net.Dialer{Timeout: defaultDialTimeout, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	rt.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return in.track(dial(ctx, network, addr))
	}
	if dialTLS := tmpl.DialTLSContext; dialTLS != nil {
		rt.DialTLSContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return in.track(dialTLS(ctx, network, addr))
		}
	}
	in.rt, in.send = rt, rt
	return in
}

// wait returns the service's snapshot, waiting for the first one within ctx.
func (s *service) wait(ctx context.Context) (*snapshot, error) {
	if sn := s.state.Load(); sn != nil {
		if sn.err != nil {
			return nil, sn.err
		}
		return sn, nil
	}
	select {
	case <-s.ready:
		return s.wait(ctx)
	case <-ctx.Done():
		return nil, fmt.Errorf("rest: waiting for the registry's list of %q: %w", s.name, context.Cause(ctx))
	case <-s.t.ctx.Done():
		return nil, fmt.Errorf("%w: request for service %q", ErrClientClosed, s.name)
	}
}

// noInstance returns the error for a request that found no instance of its scheme.
func (sn *snapshot) noInstance(service string, scheme int) error {
	if sn.errs[scheme] != nil {
		return fmt.Errorf("%w: service %q: %w", ErrNoInstances, service, sn.errs[scheme])
	}
	if sn.listed == 0 {
		return fmt.Errorf("%w: the registry lists no instance of service %q; start one, or check the name and the registry the client reads",
			ErrNoInstances, service)
	}
	return fmt.Errorf("%w: the registry lists %d instances of service %q, none with an endpoint of scheme %q",
		ErrNoInstances, sn.listed, service, schemes[scheme])
}

func (s *service) markReady() { s.readyOnce.Do(func() { close(s.ready) }) }

// follow keeps the service's snapshot current until ctx ends. A watch that cannot start or
// fails is started again with backoff; the last good list stays in use meanwhile.
func (s *service) follow(ctx context.Context) {
	defer s.t.wg.Done()
	backoff.Follower[[]*registry.Instance]{
		Policy: backoff.Default,
		Open: func(ctx context.Context) (backoff.Stream[[]*registry.Instance], error) {
			w, err := s.t.discovery.Watch(ctx, s.name)
			if err != nil {
				return nil, err
			}
			return w, nil
		},
		Value: s.update,
		Error: func(err error) bool {
			s.fail(err)
			return !errors.Is(err, registry.ErrClosed)
		},
		Ended: func(err error) bool { return errors.Is(err, registry.ErrWatcherStopped) },
	}.Follow(ctx)
}

// fail records a watch error: requests fail with it while no list ever came, and the last
// good list stays in use otherwise.
func (s *service) fail(err error) {
	err = fmt.Errorf("rest: watching service %q: %w", s.name, err)
	if sn := s.state.Load(); sn == nil || sn.err != nil {
		s.state.Store(&snapshot{err: err})
		s.markReady()
	}
	s.t.cfg.log.Warn("registry watch failed; keeping the last list", "service", s.name, "err", err)
}

// update turns a list from the registry into the next snapshot. Instances that stay keep
// their connections and figures; the snapshot is published before removed instances are
// retired, so that no new request picks them.
func (s *service) update(list []*registry.Instance) {
	cfg := &s.t.cfg
	next := make(map[instKey]*instance, len(s.insts))
	l := &listing{n: len(list)}
	for _, ri := range list {
		found := false
		for si, scheme := range schemes {
			e, ok := ri.Endpoint(scheme)
			if !ok {
				continue
			}
			found = true
			k := instKey{id: ri.ID, scheme: si, addr: e.Addr()}
			in := s.insts[k]
			if in == nil {
				in = s.t.newInstance(k.addr, s.statsOpts)
			}
			next[k] = in
			l.insts[si] = append(l.insts[si], in)
			l.eps[si] = append(l.eps[si], rules.Endpoint{ID: ri.ID, Endpoint: pick.Endpoint{
				Key: k.addr, Weight: ri.EffectiveWeight(), Version: ri.Version, Zone: ri.Zone,
				Tag: ri.Metadata[cfg.tagKey], Stats: in.stats,
			}})
		}
		if !found && !s.skipped[ri.ID] {
			s.skipped[ri.ID] = true
			cfg.log.Log(context.Background(), skipLevel(ri), "skipping an instance with no http or https endpoint",
				"service", s.name, "instance", ri.ID, "endpoints", ri.Endpoints)
		}
	}
	s.mu.Lock()
	s.last = l
	s.state.Store(s.build(l))
	s.mu.Unlock()
	s.markReady()
	for k, in := range s.insts {
		if next[k] != in {
			in.retire()
		}
	}
	s.insts = next
}

// skipLevel is the level of the line saying that in is skipped: a warning, except for an
// instance that serves only gRPC, the other side of a service answering both gRPC and HTTP
// under one name (tianshu new writes one), which no HTTP client is meant to call.
func skipLevel(in *registry.Instance) slog.Level {
	if in.ServesOnly(rpc.SchemePlaintext, rpc.SchemeTLS) {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

// rulesChanged builds the snapshot again from the last list with the rules now in force:
// the instances, their connections and figures stay as they are.
func (s *service) rulesChanged() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != nil {
		s.state.Store(s.build(s.last))
	}
}

// build makes the snapshot of l: a router per scheme, or the service's rules compiled.
func (s *service) build(l *listing) *snapshot {
	cfg := &s.t.cfg
	sn := &snapshot{listed: l.n}
	for si := range schemes {
		eps := l.eps[si]
		if len(eps) == 0 {
			continue
		}
		if cfg.rules != nil {
			rp, err := rules.Compile(cfg.alg, eps, cfg.rules.Load().For(s.name), s.filter, cfg.pickOpts...)
			if err != nil {
				sn.errs[si] = err
				continue
			}
			sn.routes[si] = &route{rules: rp, insts: l.insts[si], tagged: rp.Tagged(), headers: rp.Headers()}
			continue
		}
		plain := make([]pick.Endpoint, len(eps))
		for i := range eps {
			plain[i] = eps[i].Endpoint
		}
		r, err := pick.NewRouter(cfg.alg, plain, s.filter, cfg.pickOpts...)
		if err != nil {
			sn.errs[si] = err
			continue
		}
		sn.routes[si] = &route{router: r, insts: l.insts[si], tagged: r.Tagged()}
	}
	return sn
}
