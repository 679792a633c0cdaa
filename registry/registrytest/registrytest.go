// Package registrytest is the conformance suite every registry backend runs against its
// real server. A backend's test calls Run with a way to open handles onto one store:
//
//	func TestConformance(t *testing.T) {
//		registrytest.Run(t, registrytest.Backend{
//			Open: func(t testing.TB) registry.Registry { return openHandle(t) },
//		})
//	}
//
// Each subtest uses its own service names, so a shared server needs no cleaning between them.
package registrytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/registry"
)

// Backend describes the backend under test.
type Backend struct {
	// Open returns a new handle onto the backend's store, as a second process would open
	// it: instances registered through one handle are seen through the others. The suite
	// closes every handle it opens.
	Open func(t testing.TB) registry.Registry
	// Restart stops the backend's server and starts it again on the same address and
	// data. Nil skips the restart test (for backends with no server).
	Restart func(t testing.TB)
	// Timeout bounds how long a change may take to be seen through another handle, and
	// recovery after Restart. Zero means 10 s.
	Timeout time.Duration
	// LeakOptions are passed to goleak when the suite checks that closing handles stops
	// every goroutine they started (for SDKs with known, documented leftovers).
	LeakOptions []goleak.Option
	// Down, when set, runs the registry package's "server unreachable" contract against a
	// server of its own: it returns a function that opens a handle onto that server, which
	// is not running yet, and a function that starts it on the address the handles use,
	// returning once it accepts connections. Nil skips the test (for backends with no
	// server).
	Down func(t testing.TB) (open func(testing.TB) registry.Registry, start func(testing.TB))
	// BackoffCap is the longest wait between the reconnection attempts of the handles Down
	// opens. Once the server is up, a registration made while it was down must land, and a
	// watch started meanwhile deliver it, within BackoffCap + 2 s.
	BackoffCap time.Duration
	// Refusals, when set, returns registry.Open URLs that the backend must refuse at once
	// and without retrying, because retrying cannot fix them: malformed URLs and settings,
	// and against the suite's running server, refused credentials, a denied ACL, a missing
	// root.
	Refusals func(t testing.TB) []Refusal
}

// Refusal is a URL that registry.Open must refuse.
type Refusal struct {
	URL string
	// Err is the sentinel the error must wrap. Unless it is registry.ErrUnavailable, the
	// error must not wrap that one: it would tell callers to retry.
	Err error
}

// Bounds of the "server unreachable" contract (see the registry package's documentation).
const (
	// OpenWait is how long registry.Open may wait for a server that does not answer.
	OpenWait = time.Second
	// RecoverySlack is added to the backend's backoff cap to bound how long after its
	// server came up a registration made while it was down takes to land.
	RecoverySlack = 2 * time.Second
	// openBound is what the suite enforces for OpenWait: several times it, so that a
	// loaded machine does not fail the test, but well under the session timeouts and dial
	// timeouts backends used to wait for.
	openBound = 3 * OpenWait
)

// Run runs the conformance suite.
func Run(t *testing.T, b Backend) {
	if b.Timeout == 0 {
		b.Timeout = 10 * time.Second
	}
	s := &suite{Backend: b}
	tests := []struct {
		name string
		run  func(*testing.T)
	}{
		{"RegisteredInstanceIsListedWithAllItsData", s.roundTrip},
		{"InvalidInstanceIsRejected", s.invalid},
		{"UnknownServiceIsAnEmptyList", s.unknownService},
		{"DeregisterOfUnknownInstanceIsNotAnError", s.deregisterUnknown},
		{"FirstNextReturnsAtOnceEvenWhenEmpty", s.firstNextEmpty},
		{"WatchSeesAddUpdateAndRemove", s.watchLifecycle},
		{"ManyInstancesAreListedSortedByID", s.many},
		{"ConcurrentWatchersAllSeeTheFinalList", s.concurrentWatchers},
		{"StopUnblocksNext", s.stopUnblocks},
		{"CloseDeregistersAndStopsWatchers", s.closeDeregisters},
		{"InstancesSurviveBackendRestart", s.restart},
		{"ServerDownAtOpenIsUsedOnceItComesUp", s.downAtOpen},
		{"OpenRefusesWhatRetryingCannotFix", s.refusals},
		{"ClosingHandlesLeaksNoGoroutine", s.noLeak},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

type suite struct{ Backend }

func (s *suite) open(t *testing.T) registry.Registry {
	t.Helper()
	r := s.Open(t)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// ServiceName returns a service name unique to this test run, safe for every backend.
func ServiceName(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	return "rt-" + strings.Trim(name, "-") + "-" + hex.EncodeToString(b[:])
}

// NewInstance returns a valid instance of service with the given ID on a loopback port.
func NewInstance(service, id string, port int) *registry.Instance {
	return &registry.Instance{
		ID:        id,
		Service:   service,
		Version:   "v1.2.3",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: port}},
		Weight:    50,
		Zone:      "zone-a",
		Metadata:  map[string]string{"env": "test", "tags": "canary,blue"},
	}
}

// Follow pumps a watcher's lists into a channel until the test ends; it stops the watcher
// in Cleanup.
type Follow struct {
	t     testing.TB
	w     registry.Watcher
	lists chan []*registry.Instance
	done  chan error
}

// NewFollow starts following w.
func NewFollow(t testing.TB, w registry.Watcher) *Follow {
	f := &Follow{t: t, w: w, lists: make(chan []*registry.Instance, 1024), done: make(chan error, 1)}
	go func() {
		for {
			list, err := w.Next()
			if errors.Is(err, registry.ErrWatcherStopped) {
				f.done <- err
				close(f.lists)
				return
			}
			if err != nil {
				continue
			}
			f.lists <- list
		}
	}()
	t.Cleanup(func() {
		_ = w.Stop()
		for range f.lists {
		}
	})
	return f
}

// Until waits for a list that satisfies ok and returns it; it fails the test after timeout,
// naming what it waited for and the last list seen.
func (f *Follow) Until(timeout time.Duration, what string, ok func([]*registry.Instance) bool) []*registry.Instance {
	f.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var last []*registry.Instance
	for {
		select {
		case list, open := <-f.lists:
			if !open {
				f.t.Fatalf("watcher stopped while waiting for %s; last list %s", what, IDs(last))
			}
			last = list
			if ok(list) {
				return list
			}
		case <-deadline.C:
			f.t.Fatalf("no list with %s within %v; last list %s", what, timeout, IDs(last))
		}
	}
}

// IDs formats the IDs of a list for messages.
func IDs(list []*registry.Instance) string {
	ids := make([]string, len(list))
	for i, in := range list {
		ids[i] = in.ID
	}
	return "[" + strings.Join(ids, " ") + "]"
}

// HasIDs returns a predicate that holds when a list has exactly these IDs.
func HasIDs(ids ...string) func([]*registry.Instance) bool {
	return func(list []*registry.Instance) bool {
		if len(list) != len(ids) {
			return false
		}
		for i, in := range list {
			if in.ID != ids[i] {
				return false
			}
		}
		return true
	}
}

func (s *suite) roundTrip(t *testing.T) {
	prov, cons := s.open(t), s.open(t)
	svc := ServiceName(t)
	in := NewInstance(svc, "i-1", 7001)
	in.Endpoints = append(in.Endpoints, registry.Endpoint{Scheme: "http", Host: "::1", Port: 8080})
	if err := prov.Register(ctx(t), in); err != nil {
		t.Fatalf("Register: %v", err)
	}
	w, err := cons.Watch(ctx(t), svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	got := NewFollow(t, w).Until(s.Timeout, "i-1", HasIDs("i-1"))
	if !got[0].Equal(in) {
		t.Errorf("watched instance = %+v, want %+v", got[0], in)
	}
	list, err := cons.GetService(ctx(t), svc)
	if err != nil {
		t.Fatalf("GetService: %v", err)
	}
	if len(list) != 1 || !list[0].Equal(in) {
		t.Errorf("GetService = %+v, want [%+v]", list, in)
	}
}

func (s *suite) invalid(t *testing.T) {
	r := s.open(t)
	svc := ServiceName(t)
	bad := []*registry.Instance{
		nil,
		{ID: "x", Service: svc},
		{ID: "", Service: svc, Endpoints: NewInstance(svc, "x", 1).Endpoints},
		{ID: "x", Service: "has/slash", Endpoints: NewInstance(svc, "x", 1).Endpoints},
		{ID: "x", Service: svc, Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "h", Port: 70000}}},
	}
	for i, in := range bad {
		if err := r.Register(ctx(t), in); !errors.Is(err, registry.ErrInvalidInstance) {
			t.Errorf("Register(bad[%d]) = %v, want ErrInvalidInstance", i, err)
		}
	}
}

func (s *suite) unknownService(t *testing.T) {
	r := s.open(t)
	list, err := r.GetService(ctx(t), ServiceName(t))
	if err != nil || len(list) != 0 {
		t.Fatalf("GetService(unknown) = %v, %v; want empty, nil", IDs(list), err)
	}
}

func (s *suite) deregisterUnknown(t *testing.T) {
	r := s.open(t)
	svc := ServiceName(t)
	if err := r.Deregister(ctx(t), NewInstance(svc, "never", 7001)); err != nil {
		t.Fatalf("Deregister(unknown) = %v, want nil", err)
	}
}

func (s *suite) firstNextEmpty(t *testing.T) {
	r := s.open(t)
	w, err := r.Watch(ctx(t), ServiceName(t))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Stop()
	got := make(chan error, 1)
	go func() {
		list, err := w.Next()
		if err == nil && len(list) != 0 {
			err = fmt.Errorf("first list = %s, want empty", IDs(list))
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(s.Timeout):
		t.Fatalf("first Next did not return within %v", s.Timeout)
	}
}

func (s *suite) watchLifecycle(t *testing.T) {
	prov, cons := s.open(t), s.open(t)
	svc := ServiceName(t)
	w, err := cons.Watch(ctx(t), svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	f := NewFollow(t, w)
	f.Until(s.Timeout, "the first, empty list", HasIDs())

	a, b := NewInstance(svc, "a", 7001), NewInstance(svc, "b", 7002)
	for _, in := range []*registry.Instance{a, b} {
		if err := prov.Register(ctx(t), in); err != nil {
			t.Fatalf("Register %s: %v", in.ID, err)
		}
	}
	f.Until(s.Timeout, "a and b", HasIDs("a", "b"))

	b2 := b.Clone()
	b2.Weight, b2.Metadata["env"] = 7, "changed"
	if err := prov.Register(ctx(t), b2); err != nil {
		t.Fatalf("Register update: %v", err)
	}
	f.Until(s.Timeout, "b's new weight and metadata", func(l []*registry.Instance) bool {
		return HasIDs("a", "b")(l) && l[1].Equal(b2)
	})

	if err := prov.Deregister(ctx(t), a); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	f.Until(s.Timeout, "only b", HasIDs("b"))
	if err := prov.Deregister(ctx(t), b2); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	f.Until(s.Timeout, "an empty list", HasIDs())
}

func (s *suite) many(t *testing.T) {
	prov, cons := s.open(t), s.open(t)
	svc := ServiceName(t)
	const n = 50
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("i-%03d", i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- prov.Register(ctx(t), NewInstance(svc, want[i], 7000+i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Register: %v", err)
		}
	}
	w, err := cons.Watch(ctx(t), svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	NewFollow(t, w).Until(s.Timeout, fmt.Sprintf("%d instances sorted by ID", n), HasIDs(want...))
}

func (s *suite) concurrentWatchers(t *testing.T) {
	prov, cons := s.open(t), s.open(t)
	svc := ServiceName(t)
	const watchers = 8
	follows := make([]*Follow, watchers)
	for i := range follows {
		w, err := cons.Watch(ctx(t), svc)
		if err != nil {
			t.Fatalf("Watch %d: %v", i, err)
		}
		follows[i] = NewFollow(t, w)
	}
	for i := range 5 {
		if err := prov.Register(ctx(t), NewInstance(svc, fmt.Sprintf("i-%d", i), 7000+i)); err != nil {
			t.Fatalf("Register: %v", err)
		}
	}
	if err := prov.Deregister(ctx(t), NewInstance(svc, "i-0", 7000)); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	var wg sync.WaitGroup
	for _, f := range follows {
		wg.Go(func() { f.Until(s.Timeout, "i-1..i-4", HasIDs("i-1", "i-2", "i-3", "i-4")) })
	}
	wg.Wait()
}

func (s *suite) stopUnblocks(t *testing.T) {
	r := s.open(t)
	w, err := r.Watch(ctx(t), ServiceName(t))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if _, err := w.Next(); err != nil {
		t.Fatalf("first Next: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := w.Next(); done <- err }()
	time.Sleep(50 * time.Millisecond) // let Next block; the assertion does not depend on it
	if err := w.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, registry.ErrWatcherStopped) {
			t.Fatalf("Next after Stop = %v, want ErrWatcherStopped", err)
		}
	case <-time.After(s.Timeout):
		t.Fatal("Stop did not unblock Next")
	}
	if err := w.Stop(); err != nil {
		t.Fatalf("second Stop = %v, want nil", err)
	}
	if _, err := w.Next(); !errors.Is(err, registry.ErrWatcherStopped) {
		t.Fatalf("Next on a stopped watcher = %v, want ErrWatcherStopped", err)
	}
}

func (s *suite) closeDeregisters(t *testing.T) {
	prov := s.Open(t)
	cons := s.open(t)
	svc := ServiceName(t)
	if err := prov.Register(ctx(t), NewInstance(svc, "gone", 7001)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	cw, err := cons.Watch(ctx(t), svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	f := NewFollow(t, cw)
	f.Until(s.Timeout, "gone", HasIDs("gone"))

	pw, err := prov.Watch(ctx(t), svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if _, err := pw.Next(); err != nil {
		t.Fatalf("first Next: %v", err)
	}
	if err := prov.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	f.Until(s.Timeout, "an empty list after the provider's Close", HasIDs())
	if _, err := pw.Next(); !errors.Is(err, registry.ErrWatcherStopped) {
		t.Fatalf("Next of a closed registry's watcher = %v, want ErrWatcherStopped", err)
	}
	if err := prov.Register(ctx(t), NewInstance(svc, "late", 7002)); !errors.Is(err, registry.ErrClosed) {
		t.Fatalf("Register after Close = %v, want ErrClosed", err)
	}
}

func (s *suite) restart(t *testing.T) {
	if s.Restart == nil {
		t.Skip("backend has no server to restart")
	}
	prov, cons := s.open(t), s.open(t)
	svc := ServiceName(t)
	if err := prov.Register(ctx(t), NewInstance(svc, "before", 7001)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	w, err := cons.Watch(ctx(t), svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	f := NewFollow(t, w)
	f.Until(s.Timeout, "before", HasIDs("before"))
	s.Restart(t)
	// The provider re-registers by itself; retry the new registration while the
	// backend's client reconnects.
	deadline := time.Now().Add(s.Timeout)
	for {
		err := prov.Register(ctx(t), NewInstance(svc, "after", 7002))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Register after restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	f.Until(s.Timeout, "before and after, after the restart", HasIDs("after", "before"))
}

func (s *suite) noLeak(t *testing.T) {
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, s.LeakOptions...)
	func() {
		prov, cons := s.Open(t), s.Open(t)
		defer prov.Close()
		defer cons.Close()
		svc := ServiceName(t)
		w, err := cons.Watch(ctx(t), svc)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		f := NewFollow(t, w)
		if err := prov.Register(ctx(t), NewInstance(svc, "x", 7001)); err != nil {
			t.Fatalf("Register: %v", err)
		}
		f.Until(s.Timeout, "x", HasIDs("x"))
		_ = w.Stop()
		for range f.lists {
		}
	}()
	goleak.VerifyNone(t, opts...)
}

// timed runs f and reports how long it took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func (s *suite) downAtOpen(t *testing.T) {
	if s.Down == nil {
		t.Skip("backend has no server to be down")
	}
	open, start := s.Down(t)
	handle := func(role string) registry.Registry {
		var r registry.Registry
		if d := timed(func() { r = open(t) }); d > openBound {
			t.Errorf("opening the %s with the server down took %v; the contract is about %v", role, d.Round(time.Millisecond), OpenWait)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	prov, cons := handle("provider"), handle("consumer")
	for _, r := range []registry.Registry{prov, cons} {
		if h, ok := r.(registry.HealthReporter); ok && h.Healthy() {
			t.Errorf("%T.Healthy() = true while its server is down", r)
		}
	}
	svc := ServiceName(t)

	var w registry.Watcher
	var err error
	wctx, cancel := context.WithTimeout(ctx(t), OpenWait)
	d := timed(func() { w, err = cons.Watch(wctx, svc) })
	cancel()
	if err != nil {
		t.Fatalf("Watch while the server is down = %v; want a watcher that delivers once it is up", err)
	}
	if d > openBound {
		t.Errorf("Watch while the server is down took %v; want about %v at most", d.Round(time.Millisecond), OpenWait)
	}
	f := NewFollow(t, w)
	f.Until(openBound, "a first, empty list at once", HasIDs())

	in := NewInstance(svc, "early", 7001)
	rctx, cancel := context.WithTimeout(ctx(t), OpenWait)
	d = timed(func() { err = prov.Register(rctx, in) })
	cancel()
	if err != nil && !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("Register while the server is down = %v; want nil or an error wrapping registry.ErrUnavailable", err)
	}
	if d > openBound {
		t.Errorf("Register with a %v context while the server is down took %v", OpenWait, d.Round(time.Millisecond))
	}
	// An instance deregistered while the server is down must not be registered later.
	gone := NewInstance(svc, "gone", 7002)
	for _, op := range []func(context.Context, *registry.Instance) error{prov.Register, prov.Deregister} {
		octx, cancel := context.WithTimeout(ctx(t), OpenWait)
		err := op(octx, gone)
		cancel()
		if err != nil && !errors.Is(err, registry.ErrUnavailable) {
			t.Fatalf("Register or Deregister while the server is down = %v; want nil or an error wrapping registry.ErrUnavailable", err)
		}
	}

	start(t)
	up := time.Now()
	limit := s.BackoffCap + RecoverySlack
	f.Until(limit, "the instance registered while the server was down, once it is up", HasIDs("early"))
	t.Logf("the registration landed and was delivered %v after the server came up (limit %v)", time.Since(up).Round(time.Millisecond), limit)
	for _, r := range []registry.Registry{prov, cons} {
		if h, ok := r.(registry.HealthReporter); ok {
			for !h.Healthy() {
				if time.Since(up) > limit {
					t.Fatalf("%T.Healthy() still false %v after its server came up", r, limit)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	list, err := cons.GetService(ctx(t), svc)
	if err != nil || !HasIDs("early")(list) {
		t.Fatalf("GetService once the server is up = %s, %v; want [early]", IDs(list), err)
	}
	if !list[0].Equal(in) {
		t.Errorf("listed instance = %+v, want %+v", list[0], in)
	}
}

// refuseBound bounds how long Open may take to refuse what retrying cannot fix: a round trip
// or two to a running server, never a reconnection loop.
const refuseBound = 5 * time.Second

func (s *suite) refusals(t *testing.T) {
	if s.Refusals == nil {
		t.Skip("backend lists no URL to refuse")
	}
	for _, rf := range s.Refusals(t) {
		t.Run(rf.URL, func(t *testing.T) {
			var r registry.Registry
			var err error
			d := timed(func() { r, err = registry.Open(ctx(t), rf.URL) })
			if err == nil {
				_ = r.Close()
				t.Fatalf("Open succeeded; want an error wrapping %v", rf.Err)
			}
			if r != nil {
				t.Errorf("Open returned the registry %#v with its error; `if r != nil { r.Close() }` would break", r)
			}
			if !errors.Is(err, rf.Err) {
				t.Errorf("Open = %v; want an error wrapping %v", err, rf.Err)
			}
			if !errors.Is(rf.Err, registry.ErrUnavailable) && errors.Is(err, registry.ErrUnavailable) {
				t.Errorf("Open = %v; it wraps registry.ErrUnavailable, which tells callers to retry", err)
			}
			if d > refuseBound {
				t.Errorf("Open took %v to refuse; want at most %v", d.Round(time.Millisecond), refuseBound)
			}
		})
	}
}
