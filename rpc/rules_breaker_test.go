package rpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rules"
)

func breakerRule(minRequests int) rules.Service {
	return rules.Service{Methods: map[string]rules.Policy{
		echoMethod: {Breaker: &rules.Breaker{FailureRatio: 0.5, MinRequests: minRequests, SleepWindow: time.Hour}},
	}}
}

// failCalls makes n calls to a provider failing them all, and returns the provider's count
// of calls and the last error.
func failCalls(t *testing.T, f *flaky, c testpb.EchoClient, n int) (int64, error) {
	t.Helper()
	f.fail.Store(1 << 30)
	defer f.fail.Store(0)
	before := f.calls.Load()
	var err error
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = c.Echo(ctx, &testpb.EchoRequest{})
		cancel()
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v, want Unavailable", err)
		}
	}
	return f.calls.Load() - before, err
}

func TestRulesBreakerOpensByTheRuleWithoutRedialing(t *testing.T) {
	reg := newRegistry(t)
	f := flakyProvider(t, reg)
	st := newStore(t, rules.Service{})
	c := dialReady(t, reg, st)

	if n, _ := failCalls(t, f, c, 30); n != 30 {
		t.Fatalf("no breaker rule: the provider saw %d of 30 calls, want all", n)
	}
	setRules(t, st, breakerRule(5))
	n, err := failCalls(t, f, c, 30)
	if n != 5 {
		t.Fatalf("minRequests 5: the provider saw %d of 30 calls, want 5 before the circuit opened", n)
	}
	if !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("a refused call's error %v does not wrap breaker.ErrOpen", err)
	}
	setRules(t, st, breakerRule(20)) // new thresholds: a closed circuit
	if n, _ := failCalls(t, f, c, 30); n != 20 {
		t.Fatalf("minRequests 20: the provider saw %d of 30 calls, want 20", n)
	}
}

// The rule's circuit replaces the application's breaker for the method.
func TestRulesBreakerReplacesTheApplications(t *testing.T) {
	reg := newRegistry(t)
	f := flakyProvider(t, reg)
	g, err := breaker.NewGroup(breaker.CircuitFactory(breaker.WithMinRequests(3), breaker.WithSleepWindow(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	st := newStore(t, breakerRule(10))
	c := dialReady(t, reg, st, rpc.WithUnaryClientInterceptors(breaker.UnaryClientInterceptor(g)))
	if n, _ := failCalls(t, f, c, 20); n != 10 {
		t.Fatalf("rule minRequests 10 over the application's 3: the provider saw %d of 20 calls, want 10", n)
	}
	setRules(t, st, rules.Service{})
	if n, _ := failCalls(t, f, c, 20); n != 3 {
		t.Fatalf("no rule, the application's minRequests 3: the provider saw %d of 20 calls, want 3", n)
	}
}
