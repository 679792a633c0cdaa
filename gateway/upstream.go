package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/breaker/retry"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/telemetry"
)

// upstream is one rest.Transport and what it was made for: a target under one retry and
// breaker policy. Routes with the same target and policies share it, and with it the
// balancer's figures, the breaker and the connections; it outlives the tables that use it
// and is closed a drain time after the last table using it is replaced.
type upstream struct {
	key     string
	service string // the host of outbound URLs: the service, or a name standing for the URLs
	scheme  string // of outbound URLs
	target  Target
	disc    registry.Discovery
	tr      *rest.Transport
	brk     *breaker.Group
	retire  *time.Timer // set once no table uses it
	checker *checker    // the active health check of URLs, if any
	tc      *transcoder // a transcoding target's, instead of tr (transcode.go)
}

// upstreamKey names what makes two routes' upstreams the same.
func upstreamKey(t Target, rt *Retries, b *Breaker) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s|%s|%s", t.Protocol, t.Service, strings.Join(t.URLs, ","))
	if h := t.HealthCheck; h != nil {
		fmt.Fprintf(&sb, "|h%s/%v/%v/%d", h.Path, h.Interval, h.Timeout, h.Failures)
	}
	if t.Transcode != nil {
		sb.WriteString(transcodeKey(t.Transcode))
	}
	if c := t.TLS; c != nil {
		fmt.Fprintf(&sb, "|s%q/%q/%q/%q", c.CAFile, c.CertFile, c.KeyFile, c.ServerName)
	}
	if rt != nil {
		fmt.Fprintf(&sb, "|r%d/%g", rt.Attempts, rt.Budget)
	}
	if b != nil {
		fmt.Fprintf(&sb, "|b%g/%d/%v/%v", b.FailureRatio, b.MinRequests, b.Window, b.SleepWindow)
	}
	return sb.String()
}

// pool keeps the upstreams by key across tables.
type pool struct {
	mu    sync.Mutex
	ups   map[string]*upstream
	disc  registry.Discovery // nil: only URL targets
	tel   *telemetry.HTTPClient
	log   *slog.Logger
	drain time.Duration
	base  *http.Transport
	seq   int
	// Transcoding targets' settings, and their gRPC connections by service (transcode.go).
	tc    transcodeOptions
	conns map[string]*sharedConn
}

func newPool(disc registry.Discovery, tel *telemetry.HTTPClient, log *slog.Logger, drain time.Duration, base *http.Transport) *pool {
	return &pool{ups: map[string]*upstream{}, disc: disc, tel: tel, log: log, drain: drain, base: base}
}

// get returns the upstream of key, made when new; a retired one is taken back.
func (p *pool) get(t Target, rt *Retries, b *Breaker) (*upstream, error) {
	key := upstreamKey(t, rt, b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.ups[key]; u != nil {
		if u.retire != nil {
			u.retire.Stop()
			u.retire = nil
		}
		return u, nil
	}
	u, err := p.make(key, t, rt, b)
	if err != nil {
		return nil, err
	}
	p.ups[key] = u
	return u, nil
}

func (p *pool) make(key string, t Target, rt *Retries, b *Breaker) (*upstream, error) {
	u := &upstream{key: key, target: t, scheme: "http"}
	if t.Transcode != nil {
		if err := p.makeTranscode(u, t, rt, b); err != nil {
			return nil, err
		}
		return u, nil
	}
	base := p.base.Clone()
	if t.Protocol == protoGRPC {
		// gRPC needs HTTP/2: h2c with prior knowledge without TLS, h2 by ALPN with it.
		base.Protocols = new(http.Protocols)
		base.Protocols.SetUnencryptedHTTP2(true)
		base.Protocols.SetHTTP2(true)
	}
	if t.TLS != nil {
		// Before the health check clones base: it probes over the same TLS.
		if err := u.setTLS(t, base); err != nil {
			return nil, err
		}
	}
	switch {
	case t.Service != "":
		if p.disc == nil {
			return nil, fmt.Errorf("%w: target service %q, but the gateway has no registry (WithDiscovery)", ErrOption, t.Service)
		}
		u.service, u.disc = t.Service, p.disc
		if t.Protocol == protoGRPC {
			u.disc = grpcView{p.disc}
		}
	default:
		var eps []registry.Endpoint
		for _, raw := range t.URLs {
			ep, err := parseStatic(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
			}
			eps = append(eps, ep)
		}
		// The first URL's host:port names the upstream in the client's spans and metrics
		// (server.address, server.port) and in outbound URLs; each upstream has a
		// discovery of its own, so two with the same first URL do not mix.
		u.service = eps[0].Addr()
		if registry.ValidateName("service", u.service) != nil {
			p.seq++
			u.service = fmt.Sprintf("gateway-urls-%d", p.seq)
		}
		var list []*registry.Instance
		for i, ep := range eps {
			list = append(list, &registry.Instance{ID: fmt.Sprintf("url-%d", i), Service: u.service, Endpoints: []registry.Endpoint{ep}})
		}
		if list[0].Endpoints[0].Scheme == "https" {
			u.scheme = "https"
		}
		sd := &staticDiscovery{service: u.service, b: registry.NewBroadcast(list)}
		u.disc = sd
		if t.HealthCheck != nil {
			u.checker = startChecker(*t.HealthCheck, list, sd.b, base.Clone(), p.log)
		}
	}
	opts := []rest.ClientOption{
		rest.WithServices(u.service), rest.WithInstanceTransport(base), rest.WithClientLogger(p.log),
		rest.WithClientTelemetry(p.tel),
	}
	if rt == nil || rt.Attempts <= 1 {
		opts = append(opts, rest.WithoutRetry())
	} else {
		pol := retry.DefaultPolicy()
		pol.MaxAttempts = rt.Attempts
		ratio := rt.Budget
		if ratio == 0 {
			ratio = 0.1
		}
		budget, err := retry.NewBudget(ratio, 10)
		if err != nil {
			return nil, fmt.Errorf("%w: retries: %v", ErrInvalid, err)
		}
		opts = append(opts, rest.WithRetry(pol), rest.WithRetryBudget(budget))
	}
	g, err := breakerGroup(b)
	if err != nil {
		return nil, err
	}
	u.brk = g
	opts = append(opts, rest.WithBreakers(g))
	tr, err := rest.NewTransport(u.disc, opts...)
	if err != nil {
		_ = g.Close()
		if u.checker != nil {
			u.checker.stop()
		}
		return nil, err
	}
	u.tr = tr
	return u, nil
}

// breakerGroup makes the breakers of an upstream: circuits with b's thresholds, or the
// adaptive default when b is nil.
func breakerGroup(b *Breaker) (*breaker.Group, error) {
	var f breaker.Factory
	if b != nil {
		co := []breaker.CircuitOption{breaker.WithFailureRatio(b.FailureRatio)}
		if b.MinRequests > 0 {
			co = append(co, breaker.WithMinRequests(b.MinRequests))
		}
		if b.Window > 0 {
			co = append(co, breaker.WithWindow(b.Window, 10))
		}
		if b.SleepWindow > 0 {
			co = append(co, breaker.WithSleepWindow(b.SleepWindow))
		}
		f = breaker.CircuitFactory(co...)
	}
	g, err := breaker.NewGroup(f)
	if err != nil {
		return nil, fmt.Errorf("%w: breaker: %v", ErrInvalid, err)
	}
	return g, nil
}

// setTLS gives base the TLS of t, and sends a service's requests to its https endpoints.
func (u *upstream) setTLS(t Target, base *http.Transport) error {
	c := t.TLS
	name := c.ServerName
	if t.Service != "" {
		u.scheme = "https"
	} else if name == "" {
		// Validate saw one host for all URLs; the outbound URLs name the upstream, not it.
		ep, _ := parseStatic(t.URLs[0])
		name = ep.Host
	}
	cfg, err := rpc.NewClientTLSConfig(rpc.TLSFiles{CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile, ServerName: name})
	if err != nil {
		return fmt.Errorf("%w: tls: %w", ErrInvalid, err)
	}
	base.TLSClientConfig = cfg
	return nil
}

// keep retires the upstreams no key of inUse names: each closes after the drain time,
// so that requests still running on an older table finish on its connections.
func (p *pool) keep(inUse map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, u := range p.ups {
		if inUse[key] || u.retire != nil {
			continue
		}
		u.retire = time.AfterFunc(p.drain, func() { p.close(key, u) })
	}
}

func (p *pool) close(key string, u *upstream) {
	p.mu.Lock()
	if p.ups[key] != u || u.retire == nil {
		p.mu.Unlock()
		return // taken back by a newer table
	}
	delete(p.ups, key)
	p.mu.Unlock()
	u.close()
}

func (u *upstream) close() {
	if u.checker != nil {
		u.checker.stop()
	}
	if u.tc != nil {
		u.tc.close()
	} else {
		_ = u.tr.Close()
	}
	_ = u.brk.Close()
	if s, ok := u.disc.(*staticDiscovery); ok {
		s.b.Close()
	}
}

// closeAll closes every upstream at once, when the gateway stops.
func (p *pool) closeAll() {
	p.mu.Lock()
	ups := p.ups
	p.ups = map[string]*upstream{}
	p.mu.Unlock()
	for _, u := range ups {
		if u.retire != nil {
			u.retire.Stop()
		}
		u.close()
	}
}

// snapshot lists the upstreams for the admin API.
func (p *pool) snapshot(ctx context.Context) []UpstreamState {
	p.mu.Lock()
	ups := make([]*upstream, 0, len(p.ups))
	retired := map[*upstream]bool{}
	for _, u := range p.ups {
		ups = append(ups, u)
		retired[u] = u.retire != nil
	}
	p.mu.Unlock()
	out := make([]UpstreamState, 0, len(ups))
	for _, u := range ups {
		st := UpstreamState{Key: u.key, Service: u.target.Service, URLs: u.target.URLs, Retired: retired[u]}
		if list, err := u.disc.GetService(ctx, u.service); err != nil {
			st.Error = err.Error()
		} else {
			for _, in := range list {
				st.Instances = append(st.Instances, InstanceState{ID: in.ID, Endpoints: in.Endpoints, Weight: in.EffectiveWeight(), Version: in.Version})
			}
		}
		for _, s := range u.brk.Stats() {
			st.Breakers = append(st.Breakers, BreakerState{Name: s.Name, State: s.State.String(), Requests: s.Requests, Failures: s.Failures, Rejected: s.Rejected})
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// staticDiscovery serves a target's fixed URLs to rest's client as one service.
type staticDiscovery struct {
	service string
	b       *registry.Broadcast
}

func (s *staticDiscovery) GetService(_ context.Context, service string) ([]*registry.Instance, error) {
	if service != s.service {
		return nil, nil
	}
	return s.b.Get(), nil
}

func (s *staticDiscovery) Watch(_ context.Context, service string) (registry.Watcher, error) {
	if service != s.service {
		return registry.NewBroadcast(nil).Watch(nil), nil
	}
	return s.b.Watch(nil), nil
}

// grpcView shows rest's client a service's gRPC endpoints as the HTTP endpoints it
// balances over, grpc as http (h2c) and grpcs as https, so that gRPC passes through on the
// same balancer, breaker and telemetry as HTTP.
type grpcView struct{ d registry.Discovery }

func (v grpcView) GetService(ctx context.Context, service string) ([]*registry.Instance, error) {
	list, err := v.d.GetService(ctx, service)
	return asHTTP(list), err
}

func (v grpcView) Watch(ctx context.Context, service string) (registry.Watcher, error) {
	w, err := v.d.Watch(ctx, service)
	if err != nil {
		return nil, err
	}
	return grpcWatcher{w}, nil
}

type grpcWatcher struct{ registry.Watcher }

func (w grpcWatcher) Next() ([]*registry.Instance, error) {
	list, err := w.Watcher.Next()
	return asHTTP(list), err
}

func asHTTP(list []*registry.Instance) []*registry.Instance {
	out := make([]*registry.Instance, 0, len(list))
	for _, in := range list {
		var eps []registry.Endpoint
		for _, ep := range in.Endpoints {
			switch ep.Scheme {
			case rpc.SchemePlaintext:
				ep.Scheme = rest.SchemeHTTP
			case rpc.SchemeTLS:
				ep.Scheme = rest.SchemeHTTPS
			default:
				continue
			}
			eps = append(eps, ep)
		}
		if len(eps) == 0 {
			continue
		}
		c := in.Clone()
		c.Endpoints = eps
		out = append(out, c)
	}
	return out
}
