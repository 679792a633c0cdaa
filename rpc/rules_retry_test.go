package rpc_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/breaker/retry"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rules"
)

const echoMethod = "/tianshu.test.Echo/Echo"

// flaky counts the calls a provider receives and fails as many as fail holds with
// Unavailable before serving again.
type flaky struct {
	fail  atomic.Int64
	calls atomic.Int64
}

func (f *flaky) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	f.calls.Add(1)
	if f.fail.Add(-1) >= 0 {
		return nil, status.Error(codes.Unavailable, "failing as told")
	}
	return h(ctx, req)
}

// call makes one call that fails the first failures attempts, and returns its code and
// the attempts the provider saw.
func (f *flaky) call(t *testing.T, c testpb.EchoClient, failures int64) (codes.Code, int64) {
	t.Helper()
	f.fail.Store(failures)
	before := f.calls.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Echo(ctx, &testpb.EchoRequest{})
	f.fail.Store(0)
	return status.Code(err), f.calls.Load() - before
}

func flakyProvider(t *testing.T, reg registry.Registrar) *flaky {
	t.Helper()
	f := &flaky{}
	ruledProvider(t, reg, "a", 0, rpc.WithUnaryServerInterceptors(f.intercept))
	return f
}

// dialReady dials echo with the rules of st and opts, and waits until the channel is
// connected, so that no call fails for want of a connection.
func dialReady(t *testing.T, d registry.Discovery, st *rules.Store, opts ...rpc.DialOption) testpb.EchoClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rpc.Dial(ctx, "tianshu:///echo", append([]rpc.DialOption{rpc.WithDiscovery(d), rpc.WithRules(st),
		rpc.WithBalancer(loadbalance.RoundRobin), rpc.WithWaitReady(), rpc.WithoutClientTelemetry(),
		rpc.WithDialLogger(discardLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return testpb.NewEchoClient(conn)
}

func retries(attempts int, budget float64) rules.Service {
	return rules.Service{Methods: map[string]rules.Policy{
		echoMethod: {Retries: &rules.Retries{Attempts: attempts, Budget: budget}},
	}}
}

func TestRulesRetriesFollowTheRuleWithoutRedialing(t *testing.T) {
	reg := newRegistry(t)
	f := flakyProvider(t, reg)
	st := newStore(t, retries(3, 0))
	c := dialReady(t, reg, st)

	if code, n := f.call(t, c, 2); code != codes.OK || n != 3 {
		t.Fatalf("attempts 3, failing twice: got %v after %d attempts, want OK after 3", code, n)
	}
	setRules(t, st, retries(1, 0))
	if code, n := f.call(t, c, 2); code != codes.Unavailable || n != 1 {
		t.Fatalf("attempts 1: got %v after %d attempts, want Unavailable after 1", code, n)
	}
	setRules(t, st, retries(2, 0))
	if code, n := f.call(t, c, 2); code != codes.Unavailable || n != 2 {
		t.Fatalf("attempts 2, failing twice: got %v after %d attempts, want Unavailable after 2", code, n)
	}
	if code, n := f.call(t, c, 1); code != codes.OK || n != 2 {
		t.Fatalf("attempts 2, failing once: got %v after %d attempts, want OK after 2", code, n)
	}
	// A rule for "*" covers the method too.
	setRules(t, st, rules.Service{Methods: map[string]rules.Policy{"*": {Retries: &rules.Retries{Attempts: 3}}}})
	if code, n := f.call(t, c, 2); code != codes.OK || n != 3 {
		t.Fatalf(`"*" attempts 3: got %v after %d attempts, want OK after 3`, code, n)
	}
}

func TestRulesRetriesOnlyRetryableCodes(t *testing.T) {
	reg := newRegistry(t)
	f := &flaky{}
	failHard := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		f.calls.Add(1)
		return nil, status.Error(codes.InvalidArgument, "never right")
	}
	ruledProvider(t, reg, "a", 0, rpc.WithUnaryServerInterceptors(failHard))
	c := dialReady(t, reg, newStore(t, retries(3, 0)))
	if code, n := f.call(t, c, 0); code != codes.InvalidArgument || n != 1 {
		t.Fatalf("got %v after %d attempts, want InvalidArgument after 1: only Unavailable is retried", code, n)
	}
}

func TestRulesRetriesNoneByDefault(t *testing.T) {
	reg := newRegistry(t)
	f := flakyProvider(t, reg)
	// Rules with a timeout and no retries for the method.
	st := newStore(t, rules.Service{Methods: map[string]rules.Policy{"*": {Timeout: 5 * time.Second}}})
	c := dialReady(t, reg, st)
	if code, n := f.call(t, c, 1); code != codes.Unavailable || n != 1 {
		t.Fatalf("got %v after %d attempts, want Unavailable after 1", code, n)
	}
}

// The application's retry interceptor keeps the methods the rules give no retries, and
// is replaced, not multiplied, where they do.
func TestRulesRetriesReplaceTheApplications(t *testing.T) {
	reg := newRegistry(t)
	f := flakyProvider(t, reg)
	own := retry.DefaultPolicy()
	own.MaxAttempts = 4
	retrier, err := retry.UnaryClientInterceptor(retry.WithDefaultPolicy(own))
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(t, rules.Service{Methods: map[string]rules.Policy{"/other.Service/M": {Retries: &rules.Retries{Attempts: 2}}}})
	c := dialReady(t, reg, st, rpc.WithUnaryClientInterceptors(retrier))

	if code, n := f.call(t, c, 3); code != codes.OK || n != 4 {
		t.Fatalf("no rule for the method: got %v after %d attempts, want OK after the application's 4", code, n)
	}
	setRules(t, st, retries(2, 0))
	if code, n := f.call(t, c, 3); code != codes.Unavailable || n != 2 {
		t.Fatalf("rule of 2 attempts over the application's 4: got %v after %d attempts, want Unavailable after 2", code, n)
	}
	setRules(t, st, retries(1, 0))
	if code, n := f.call(t, c, 3); code != codes.Unavailable || n != 1 {
		t.Fatalf("rule of 1 attempt over the application's 4: got %v after %d attempts, want Unavailable after 1", code, n)
	}
}

// Each method's budget lasts while the rule's share stays; a new share starts a new one.
func TestRulesRetriesBudget(t *testing.T) {
	reg := newRegistry(t)
	f := flakyProvider(t, reg)
	st := newStore(t, retries(2, 0.01)) // 10 retries saved up, 1% of calls after that
	c := dialReady(t, reg, st)
	for i := range 10 {
		if code, n := f.call(t, c, 1); code != codes.OK || n != 2 {
			t.Fatalf("call %d: got %v after %d attempts, want OK after 2", i, code, n)
		}
	}
	if code, n := f.call(t, c, 1); code != codes.Unavailable || n != 1 {
		t.Fatalf("budget spent: got %v after %d attempts, want Unavailable after 1", code, n)
	}
	setRules(t, st, retries(3, 0.01)) // same share: still spent
	if code, n := f.call(t, c, 1); code != codes.Unavailable || n != 1 {
		t.Fatalf("attempts changed, same share: got %v after %d attempts, want Unavailable after 1", code, n)
	}
	setRules(t, st, retries(3, 0.5)) // a new share: a new budget
	if code, n := f.call(t, c, 2); code != codes.OK || n != 3 {
		t.Fatalf("new share: got %v after %d attempts, want OK after 3", code, n)
	}
}
