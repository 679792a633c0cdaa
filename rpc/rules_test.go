package rpc_test

import (
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rules"
)

// ruledProvider serves an echo provider with instance ID id, like startProvider, and
// returns the count of connections it accepted (to show that a rules change makes none)
// and a stop function, also run at cleanup.
func ruledProvider(t *testing.T, reg registry.Registrar, id string, delay time.Duration, opts ...rpc.ServerOption) (*atomic.Int64, func()) {
	t.Helper()
	srv := rpc.NewServer(append([]rpc.ServerOption{
		rpc.WithService("echo"), rpc.WithInstanceID(id), rpc.WithRegistrar(reg),
		rpc.WithDeregisterDelay(100 * time.Millisecond), rpc.WithServerLogger(discardLogger()),
	}, opts...)...)
	testpb.RegisterEchoServer(srv, echo{id: id, delay: delay})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: lis}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(cl) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
			if err := <-served; err != nil {
				t.Errorf("Serve returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &cl.n, stop
}

func newStore(t *testing.T, s rules.Service) *rules.Store {
	t.Helper()
	st, err := rules.NewStore(&rules.Rules{Services: map[string]rules.Service{"echo": s}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func setRules(t *testing.T, st *rules.Store, s rules.Service) {
	t.Helper()
	if err := st.Set(&rules.Rules{Services: map[string]rules.Service{"echo": s}}); err != nil {
		t.Fatal(err)
	}
}

func dialRules(t *testing.T, d registry.Discovery, st *rules.Store, balancer string) testpb.EchoClient {
	t.Helper()
	conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(d), rpc.WithRules(st),
		rpc.WithBalancer(balancer), rpc.WithoutClientTelemetry(), rpc.WithDialLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return testpb.NewEchoClient(conn)
}

// served makes n calls with ctx and counts who served them; any failure fails the test.
func served(t *testing.T, ctx context.Context, c testpb.EchoClient, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := range n {
		r, err := c.Echo(ctx, &testpb.EchoRequest{})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		seen[r.ServedBy]++
	}
	return seen
}

// checkShares fails unless the calls seen split within 3 percentage points of want.
func checkShares(t *testing.T, seen map[string]int, want map[string]float64) {
	t.Helper()
	total := 0
	for _, n := range seen {
		total += n
	}
	for id, w := range want {
		if got := float64(seen[id]) / float64(total); math.Abs(got-w) > 0.03 {
			t.Errorf("%s served %.1f%% of %d calls, want %.0f%% ± 3; all: %v", id, 100*got, total, 100*w, seen)
		}
	}
}

func TestRulesWeightChangeShiftsTrafficWithoutReconnecting(t *testing.T) {
	reg := newRegistry(t)
	acc := map[string]*atomic.Int64{}
	for _, id := range []string{"a", "b", "c"} {
		acc[id], _ = ruledProvider(t, reg, id, 0)
	}
	st := newStore(t, rules.Service{})
	c := dialRules(t, reg, st, loadbalance.RoundRobin)
	callUntil(t, c, "a, b and c", func(s map[string]int) bool { return s["a"] > 0 && s["b"] > 0 && s["c"] > 0 })
	checkShares(t, served(t, context.Background(), c, 2000), map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3})

	setRules(t, st, rules.Service{Instances: []rules.Instance{
		{ID: "a", Weight: 600}, {ID: "b", Weight: 300}, {ID: "c", Weight: 100},
	}})
	checkShares(t, served(t, context.Background(), c, 2000), map[string]float64{"a": 0.6, "b": 0.3, "c": 0.1})
	for id, n := range acc {
		if n.Load() != 1 {
			t.Errorf("provider %s accepted %d connections, want 1: the rules change reconnected", id, n.Load())
		}
	}
}

func TestRulesTakeAnInstanceOutWithNoFailedCall(t *testing.T) {
	reg := newRegistry(t)
	accA, _ := ruledProvider(t, reg, "a", 2*time.Millisecond)
	ruledProvider(t, reg, "b", 2*time.Millisecond)
	st := newStore(t, rules.Service{})
	c := dialRules(t, reg, st, loadbalance.P2C)
	callUntil(t, c, "a and b", func(s map[string]int) bool { return s["a"] > 0 && s["b"] > 0 })

	// Callers keep calling while a is taken out; out is set once the rules are in force,
	// and calls started after that must not reach a.
	var out atomic.Bool
	var calls, failed, late atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := out.Load()
				r, err := c.Echo(context.Background(), &testpb.EchoRequest{})
				calls.Add(1)
				switch {
				case err != nil:
					failed.Add(1)
				case after && r.ServedBy == "a":
					late.Add(1)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	setRules(t, st, rules.Service{Instances: []rules.Instance{{ID: "a", Out: true}}})
	out.Store(true)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || late.Load() != 0 {
		t.Fatalf("of %d calls, %d failed and %d started after the drain reached a; want 0 and 0",
			calls.Load(), failed.Load(), late.Load())
	}
	t.Logf("%d calls, none failed, none reached a after it was taken out", calls.Load())

	// Back in traffic, over the connection it kept.
	setRules(t, st, rules.Service{})
	callUntil(t, c, "a again", func(s map[string]int) bool { return s["a"] > 0 })
	if n := accA.Load(); n != 1 {
		t.Errorf("a accepted %d connections, want 1", n)
	}
}

func TestRulesCanaryRoutesOnlyItsCalls(t *testing.T) {
	reg := newRegistry(t)
	ruledProvider(t, reg, "a", 0, rpc.WithVersion("v1"))
	ruledProvider(t, reg, "b", 0, rpc.WithVersion("v1"))
	ruledProvider(t, reg, "canary", 0, rpc.WithVersion("v2"), rpc.WithMetadata(map[string]string{"tag": "canary"}))
	st := newStore(t, rules.Service{Routes: []rules.Route{
		{Match: rules.Match{Tag: "beta"}, To: []rules.Destination{{Version: "v2", Weight: 1}}},
		{Match: rules.Match{Header: "x-canary", Value: "true"}, To: []rules.Destination{{Tag: "canary", Weight: 1}}},
	}})
	c := dialRules(t, reg, st, loadbalance.P2C)
	waitCtx := loadbalance.WithTag(context.Background(), "beta")
	callUntil(t, c, "a and b", func(s map[string]int) bool { return s["a"] > 0 && s["b"] > 0 })
	// Until the canary is connected, the beta route has no destination and its calls go
	// elsewhere; wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := c.Echo(waitCtx, &testpb.EchoRequest{})
		if err == nil && r.ServedBy == "canary" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the beta call never reached the canary: %v, %v", r, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	cases := []struct {
		name string
		ctx  context.Context
		want func(id string) bool
	}{
		{"tag beta", loadbalance.WithTag(context.Background(), "beta"), func(id string) bool { return id == "canary" }},
		{"header x-canary: true", metadata.AppendToOutgoingContext(context.Background(), "x-canary", "true"),
			func(id string) bool { return id == "canary" }},
		{"header x-canary: false", metadata.AppendToOutgoingContext(context.Background(), "x-canary", "false"),
			func(id string) bool { return id != "canary" }},
		{"no tag, no header", context.Background(), func(id string) bool { return id != "canary" }},
		{"tag other", loadbalance.WithTag(context.Background(), "other"), func(id string) bool { return id != "canary" }},
	}
	for _, tc := range cases {
		seen := served(t, tc.ctx, c, 200)
		for id, n := range seen {
			if !tc.want(id) {
				t.Errorf("%s: %d of 200 calls went to %s; all: %v", tc.name, n, id, seen)
			}
		}
	}
}

func TestRulesSurviveAProviderRestart(t *testing.T) {
	reg := newRegistry(t)
	_, stopA := ruledProvider(t, reg, "a", 0)
	ruledProvider(t, reg, "b", 0)
	st := newStore(t, rules.Service{Instances: []rules.Instance{{ID: "a", Weight: 300}}})
	c := dialRules(t, reg, st, loadbalance.RoundRobin)
	callUntil(t, c, "a and b", func(s map[string]int) bool { return s["a"] > 0 && s["b"] > 0 })
	checkShares(t, served(t, context.Background(), c, 2000), map[string]float64{"a": 0.75, "b": 0.25})

	// a restarts on another port under the same ID.
	stopA()
	callUntil(t, c, "b alone", func(s map[string]int) bool { return s["b"] > 20 && s["a"] == 0 })
	ruledProvider(t, reg, "a", 0)
	callUntil(t, c, "the new a", func(s map[string]int) bool { return s["a"] > 0 })
	checkShares(t, served(t, context.Background(), c, 2000), map[string]float64{"a": 0.75, "b": 0.25})
}

func TestRulesMethodTimeout(t *testing.T) {
	reg := newRegistry(t)
	ruledProvider(t, reg, "slow", 2*time.Second)
	st := newStore(t, rules.Service{Methods: map[string]rules.Policy{
		testpb.Echo_Echo_FullMethodName: {Timeout: 100 * time.Millisecond},
	}})
	c := dialRules(t, reg, st, loadbalance.P2C)
	start := time.Now()
	_, err := c.Echo(context.Background(), &testpb.EchoRequest{}, grpc.WaitForReady(true))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call to a 2 s method with a 100 ms rule: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the call took %v, want about 100 ms", d)
	}
	// A rule with no timeout for the method leaves the caller's deadline alone.
	setRules(t, st, rules.Service{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Echo(ctx, &testpb.EchoRequest{}); err != nil {
		t.Fatalf("call without a timeout rule: %v", err)
	}
}

func TestDialRejectsANilRulesStore(t *testing.T) {
	_, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(newRegistry(t)), rpc.WithRules(nil))
	if !errors.Is(err, rpc.ErrNoRules) {
		t.Fatalf("Dial with WithRules(nil) = %v, want ErrNoRules", err)
	}
	t.Log(err)
}

func TestServerRulesLimitAMethod(t *testing.T) {
	reg := newRegistry(t)
	st := newStore(t, rules.Service{Limits: map[string]rules.Limit{
		testpb.Echo_Echo_FullMethodName: {Rate: 0.5, Burst: 3},
	}})
	ruledProvider(t, reg, "a", 0, rpc.WithServerRules(st))
	c := dialRules(t, reg, newStore(t, rules.Service{}), loadbalance.P2C)
	ok, refused := 0, 0
	for i := range 10 {
		_, err := c.Echo(context.Background(), &testpb.EchoRequest{}, grpc.WaitForReady(true))
		switch status.Code(err) {
		case codes.OK:
			ok++
		case codes.ResourceExhausted:
			refused++
			if i == 9 {
				t.Log(err)
			}
		default:
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// A burst of 3, and a token every 2 s: 3 calls pass, 4 if the box is very slow.
	if ok < 3 || ok > 4 || refused != 10-ok {
		t.Errorf("%d calls passed and %d were refused, want 3 and 7", ok, refused)
	}
	// Lifted: every call passes.
	setRules(t, st, rules.Service{})
	served(t, context.Background(), c, 50)
}

func TestWithServerRulesNilPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("NewServer(WithServerRules(nil)) did not panic")
		} else {
			t.Log(r)
		}
	}()
	rpc.NewServer(rpc.WithServerRules(nil))
}
