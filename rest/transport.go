package rest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/breaker/retry"
	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rules"
	"github.com/tianshu-go/tianshu/telemetry"
)

// Transport is an http.RoundTripper that sends requests for services to their instances
// and every other request to a fallback transport, so that one http.Client calls both.
//
// Which hosts are services: those WithServices lists, or those WithServiceMatcher accepts,
// or by default those DefaultServiceMatcher accepts (a bare name such as "orders"). The
// scheme picks the instances' endpoint: http://orders/items goes to an "http" endpoint,
// https://orders/items to an "https" one. The request is sent as it is: its Host header
// and, over TLS, the name verified in the certificate stay the service's name (a
// service's certificate names the service, as for gRPC; set
// TLSClientConfig.ServerName in WithInstanceTransport to verify another name). Only the
// connection goes to the instance's address.
//
// For each service the Transport keeps one registry watch, started by the service's first
// request and shared by all later ones; a change of the list applies on the watch event.
// An instance that leaves the list takes no new request, and its connections close as
// soon as its requests in flight are done (their response bodies read or closed).
//
// A request to a service goes through, in order: the service's breaker (an open breaker
// fails it with an error wrapping breaker.ErrOpen), a pick among the instances with the
// configured algorithm and filters (the X-Tianshu-Tag header asks for tagged instances;
// with WithRules, the service's rules decide first: instance overrides and routes),
// the telemetry of one attempt, and the instance's transport. An attempt that fails at the
// transport (refused, reset) or gets a status of WithRetryStatuses (502, 503, 504 by
// default) is retried on another instance when the request is idempotent: its method is
// GET, HEAD, OPTIONS, TRACE, PUT or DELETE, or it carries an Idempotency-Key header, or its
// context came from AllowRetry; and its body can be sent again (none, or GetBody set, as
// http.NewRequest sets for in-memory bodies). A POST is never retried otherwise. Retries
// follow the retry policy's backoff within the request's deadline and draw on the retry
// budget; each attempt passes the breaker again. With WithRules, the policy of the
// request's route (timeout, retries, breaker) applies first: see WithRules.
//
// Transport is safe for concurrent use. Close it when done.
type Transport struct {
	cfg       clientConfig
	discovery registry.Discovery
	tel       *telemetry.HTTPClient
	retryable [10]uint64 // bit s set: status s is worth a retry
	timed     bool       // the algorithm weighs latency: read the clock per pick
	// ruleBackoff spaces the retries the rules ask for: the client's policy when it
	// retries, else retry.DefaultPolicy, so that WithoutRetry still has a backoff.
	ruleBackoff retry.Policy
	ownBrk      bool
	closed      atomic.Bool

	ctx    context.Context // ends at Close, stopping the watches
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // serialises inserts into services, and Close
	services atomic.Pointer[map[string]*service]
	known    map[string]bool // WithServices, as a set
	unsub    func()          // stops following the rules (WithRules)
}

// NewTransport returns a Transport resolving services through d. Its error wraps
// ErrInvalidClientOption and names each option at fault.
func NewTransport(d registry.Discovery, opts ...ClientOption) (*Transport, error) {
	var cfg clientConfig
	for _, o := range opts {
		o(&cfg)
	}
	if d == nil {
		cfg.fail("a nil registry.Discovery; pass the registry to resolve services with")
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	t := &Transport{cfg: cfg, discovery: d, tel: cfg.telemetry, timed: cfg.alg == pick.AlgP2C, ruleBackoff: cfg.policy}
	if cfg.noRetry || cfg.policy.MaxAttempts <= 1 {
		t.ruleBackoff = retry.DefaultPolicy()
	}
	for _, s := range cfg.retryStatuses {
		t.retryable[s/64] |= 1 << (s % 64)
	}
	if len(cfg.services) > 0 {
		t.known = map[string]bool{}
		for _, s := range cfg.services {
			t.known[s] = true
		}
	}
	if !cfg.noBreaker && cfg.breakers == nil {
		g, err := breaker.NewGroup(nil)
		if err != nil {
			return nil, fmt.Errorf("rest: breakers: %w", err)
		}
		t.cfg.breakers, t.ownBrk = g, true
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	empty := map[string]*service{}
	t.services.Store(&empty)
	if cfg.rules != nil {
		t.unsub = cfg.rules.Subscribe(func(*rules.Rules) {
			for _, s := range *t.services.Load() {
				s.rulesChanged()
			}
		})
	}
	return t, nil
}

// RoundTrip sends req to an instance of the service its host names, or to the fallback
// transport when the host is not a service. See Transport for the errors.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	s, err := t.lookup(req.URL)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if s == nil {
		return t.send(t.cfg.fallback, req, 0, nil)
	}
	return s.roundTrip(req)
}

// isService applies the configured rule to a host.
func (t *Transport) isService(host string) bool {
	switch {
	case t.cfg.matcher != nil:
		return t.cfg.matcher(host)
	case t.known != nil:
		return t.known[host]
	}
	return DefaultServiceMatcher(host)
}

// lookup returns the service u names, nil when it names none. Known services cost one map
// lookup and no lock.
func (t *Transport) lookup(u *url.URL) (*service, error) {
	if u == nil || u.Scheme != schemeHTTP && u.Scheme != schemeHTTPS {
		return nil, nil
	}
	if s, ok := (*t.services.Load())[u.Host]; ok {
		if t.closed.Load() {
			return nil, fmt.Errorf("%w: request for service %q", ErrClientClosed, u.Host)
		}
		return s, nil
	}
	if !t.isService(u.Host) {
		return nil, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return nil, fmt.Errorf("%w: request for service %q", ErrClientClosed, u.Host)
	}
	old := *t.services.Load()
	if s, ok := old[u.Host]; ok {
		return s, nil
	}
	s := t.newService(u.Host)
	next := make(map[string]*service, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[u.Host] = s
	t.services.Store(&next)
	t.wg.Add(1)
	go s.follow(t.ctx)
	return s, nil
}

func (t *Transport) newService(name string) *service {
	s := &service{name: name, t: t, ready: make(chan struct{}), insts: map[instKey]*instance{}, skipped: map[string]bool{}}
	s.filter = t.cfg.filter
	s.statsOpts = t.cfg.pickOpts
	if t.cfg.rules != nil {
		s.statsOpts = append(slices.Clip(t.cfg.pickOpts), pick.WithEjectionFrom(s.outlier))
	}
	if f, ok := t.cfg.serviceFilters[name]; ok {
		s.filter = f
	}
	if t.cfg.breakers != nil {
		if b, err := t.cfg.breakers.Get(name); err == nil {
			s.brk = b
		} else {
			// A closed group: go without a breaker rather than fail every request.
			t.cfg.log.Warn("no breaker for service", "service", name, "err", err)
		}
	}
	return s
}

// Close stops every watch, closes the idle connections to every instance and, when the
// client made its breakers, their group. Requests to services fail with ErrClientClosed
// afterwards; requests in flight finish. Close is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed.Swap(true) {
		t.mu.Unlock()
		return nil
	}
	t.mu.Unlock()
	if t.unsub != nil {
		t.unsub()
	}
	t.cancel()
	t.wg.Wait()
	for _, s := range *t.services.Load() {
		for _, in := range s.insts {
			in.retire()
		}
	}
	if t.ownBrk {
		return t.cfg.breakers.Close()
	}
	return nil
}

// CloseIdleConnections closes the idle connections to every instance and those of the
// fallback transport; http.Client.CloseIdleConnections calls it.
func (t *Transport) CloseIdleConnections() {
	for _, s := range *t.services.Load() {
		if sn := s.state.Load(); sn != nil {
			for _, r := range sn.routes {
				if r != nil {
					for _, in := range r.insts {
						in.rt.CloseIdleConnections()
					}
				}
			}
		}
	}
	if c, ok := t.cfg.fallback.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// send makes one attempt with rt, recorded by the telemetry; in is the instance it goes to
// (nil for the fallback).
func (t *Transport) send(rt http.RoundTripper, req *http.Request, resend int, in *instance) (*http.Response, error) {
	if t.tel == nil {
		return rt.RoundTrip(req)
	}
	out, call := t.tel.Start(req, resend)
	if in != nil {
		call.SetPeer(in.addr)
	}
	resp, err := rt.RoundTrip(out)
	t.tel.End(&call, resp, err)
	return resp, err
}

// idempotent reports whether req may be sent more than once.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, "", http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
	default:
		if _, ok := req.Header[IdempotencyKeyHeader]; !ok {
			if allowed, _ := req.Context().Value(allowRetryKey{}).(bool); !allowed {
				return false
			}
		}
	}
	// A body can be sent again only if it can be had again.
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// roundTrip sends a request for the service, retrying as Transport says, within the
// timeout of the rules.
func (s *service) roundTrip(req *http.Request) (*http.Response, error) {
	cp, req, cancel := s.policy(req)
	resp, err := s.send(req, cp)
	if cancel != nil {
		if err != nil {
			cancel()
			return resp, err
		}
		resp = bound(resp, cancel)
	}
	return resp, err
}

// send sends a request for the service with cp's attempts, backoff and budget.
func (s *service) send(req *http.Request, cp callPolicy) (*http.Response, error) {
	t := s.t
	ctx := req.Context()
	sn, err := s.wait(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	scheme := 0
	if req.URL.Scheme == schemeHTTPS {
		scheme = 1
	}
	attempts := cp.attempts
	if attempts > 1 {
		cp.budget.Deposit()
	}
	var prev *instance
	for attempt := 1; ; attempt++ {
		r := sn.routes[scheme]
		if r == nil {
			if attempt == 1 {
				closeBody(req)
			}
			return nil, sn.noInstance(s.name, scheme)
		}
		areq := req
		if attempt > 1 {
			if areq, err = replay(req); err != nil {
				return nil, err
			}
		}
		var done func(bool)
		if cp.brk != nil {
			if done, err = cp.brk.Allow(); err != nil {
				closeBody(areq)
				return nil, fmt.Errorf("rest: service %q: %w", s.name, err)
			}
		}
		in := r.pick(t, req, prev)
		resp, outcome, err := s.attempt(in, areq, attempt-1)
		if done != nil {
			done(outcome != pick.Failure && outcome != pick.Unreachable)
		}
		again := err != nil && ctx.Err() == nil || err == nil && t.retryStatus(resp.StatusCode)
		if !again || attempt >= attempts {
			return resp, err
		}
		wait := cp.backoff.Backoff(attempt)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			return resp, err // the retry could not finish before the caller stops waiting
		}
		if !cp.budget.Withdraw() {
			return resp, err
		}
		if resp != nil {
			discard(resp)
		}
		if !backoff.Sleep(ctx, wait) {
			return nil, fmt.Errorf("rest: service %q: waiting to retry: %w", s.name, context.Cause(ctx))
		}
		prev = in
		sn = s.state.Load() // the list may have changed meanwhile
	}
}

func (t *Transport) retryStatus(code int) bool {
	return code >= 0 && code < 640 && t.retryable[code/64]&(1<<(code%64)) != 0
}

// attempt sends req to instance in and accounts for it: the instance's figures, its
// requests in flight (until the response body is done) and the telemetry.
func (s *service) attempt(in *instance, req *http.Request, resend int) (*http.Response, pick.Outcome, error) {
	t := s.t
	var start time.Duration
	if t.timed {
		start = pick.MonotonicClock()
	}
	in.stats.Begin()
	in.open.Add(1)
	parent := req.Context()
	var cancel context.CancelFunc
	if d := t.cfg.policy.PerAttemptTimeout; d > 0 && !t.cfg.noRetry {
		var actx context.Context
		actx, cancel = attemptContext(parent, d)
		req = req.WithContext(actx)
	}
	resp, err := t.send(in.send, req, resend, in)
	outcome := pick.Success
	switch {
	case err != nil && parent.Err() != nil:
		outcome = pick.Neutral // the caller gave up: nothing learnt of the instance
	case err != nil && cancel != nil && req.Context().Err() != nil:
		outcome = pick.Failure // the attempt's own deadline: the instance is slow
	case err != nil:
		outcome = pick.Unreachable
	case resp.StatusCode >= 500:
		outcome = pick.Failure
	}
	if t.timed {
		in.stats.EndTimed(outcome, start)
	} else {
		in.stats.End(outcome)
	}
	switch {
	case err != nil || resp.Body == nil || resp.Body == http.NoBody:
		if cancel != nil {
			cancel()
		}
		in.release()
	case resp.StatusCode == http.StatusSwitchingProtocols:
		// The body is the upgraded connection: it must stay as it is, and live on.
		in.release()
	default:
		resp.Body = &instanceBody{ReadCloser: resp.Body, in: in, cancel: cancel}
	}
	return resp, outcome, err
}

// pick chooses an instance for req, avoiding prev (the instance of a failed attempt) when
// there is another.
func (r *route) pick(t *Transport, req *http.Request, prev *instance) *instance {
	var tag string
	if r.tagged {
		if v := req.Header[TagHeader]; len(v) > 0 {
			tag = v[0]
		}
	}
	var key uint64
	if t.cfg.alg == pick.AlgConsistentHash {
		k := ""
		if t.cfg.hashKey != nil {
			k = t.cfg.hashKey(req)
		} else if v := req.Header[t.cfg.hashHeader]; len(v) > 0 {
			k = v[0]
		}
		if k != "" {
			key = pick.HashKey(k)
		} else {
			key = rand.Uint64()
		}
	}
	var now time.Duration
	if t.timed {
		now = pick.MonotonicClock()
	}
	in := r.insts[r.choose(tag, req, key, now)]
	for try := 0; in == prev && try < 2 && len(r.insts) > 1; try++ {
		if key != 0 {
			key = rand.Uint64() // a hashed retry goes elsewhere, not to the same failed instance
		}
		in = r.insts[r.choose(tag, req, key, now)]
	}
	return in
}

// choose returns the index of the instance the route's router or rules pick.
func (r *route) choose(tag string, req *http.Request, key uint64, now time.Duration) int {
	if r.rules == nil {
		return r.router.Pick(tag, key, now)
	}
	var h rules.Header
	if r.headers {
		h = req.Header
	}
	return r.rules.Pick(tag, h, key, now)
}

// replay returns req with a fresh copy of its body for another attempt.
func replay(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("rest: replaying the request body for a retry: %w", err)
	}
	out := new(http.Request)
	*out = *req
	out.Body = body
	return out, nil
}

// discard reads a little of a response that will not be returned, so that its connection
// can be reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	_ = resp.Body.Close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// instanceBody ends an attempt's time in flight when its body is read to the end or
// closed, whichever comes first.
type instanceBody struct {
	io.ReadCloser
	in     *instance
	cancel context.CancelFunc
	done   atomic.Bool
}

func (b *instanceBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.finish()
	}
	return n, err
}

func (b *instanceBody) Close() error {
	err := b.ReadCloser.Close()
	b.finish()
	return err
}

func (b *instanceBody) finish() {
	if b.done.Swap(true) {
		return
	}
	if b.cancel != nil {
		b.cancel()
	}
	b.in.release()
}

// attemptContext bounds one attempt. Its cancel runs when the attempt's response body is
// done, which can be long after attempt returns.
func attemptContext(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, d)
}
