package retry

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/breaker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// flaky fails its first failFirst calls with code, then answers SERVING.
type flaky struct {
	healthpb.UnimplementedHealthServer
	failFirst int64
	code      codes.Code
	calls     atomic.Int64
}

func (f *flaky) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if f.calls.Add(1) <= f.failFirst {
		return nil, status.Error(f.code, "flaky")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

const check = "/grpc.health.v1.Health/Check"

// serve starts svc on a loopback port and returns a client whose calls pass through the given
// interceptors.
func serve(t *testing.T, svc *flaky, ics ...grpc.UnaryClientInterceptor) healthpb.HealthClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1: %v", err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, svc)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(ics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func fastPolicy() Policy {
	p := DefaultPolicy()
	p.InitialBackoff, p.MaxBackoff = time.Millisecond, 5*time.Millisecond
	return p
}

func mustInterceptor(t *testing.T, opts ...Option) grpc.UnaryClientInterceptor {
	t.Helper()
	ic, err := UnaryClientInterceptor(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ic
}

func TestInterceptorRetriesByPolicy(t *testing.T) {
	notIdempotent := fastPolicy()
	notIdempotent.Idempotent = false
	tests := []struct {
		name      string
		failFirst int64
		code      codes.Code
		opts      []Option
		wantCalls int64
		wantCode  codes.Code
	}{
		{"an idempotent method is retried until it succeeds", 2, codes.Unavailable,
			[]Option{WithMethod(check, fastPolicy())}, 3, codes.OK},
		{"retries stop at MaxAttempts", 10, codes.Unavailable,
			[]Option{WithMethod(check, fastPolicy())}, 3, codes.Unavailable},
		{"a code outside the policy is not retried", 10, codes.InvalidArgument,
			[]Option{WithMethod(check, fastPolicy())}, 1, codes.InvalidArgument},
		{"a method not known to be idempotent is not retried", 10, codes.Unavailable,
			[]Option{WithMethod(check, notIdempotent)}, 1, codes.Unavailable},
		{"a method without a policy is not retried", 10, codes.Unavailable, nil, 1, codes.Unavailable},
		{"the default policy covers methods without their own", 1, codes.Unavailable,
			[]Option{WithDefaultPolicy(fastPolicy())}, 2, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &flaky{failFirst: tt.failFirst, code: tt.code}
			client := serve(t, svc, mustInterceptor(t, tt.opts...))
			_, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{})
			if status.Code(err) != tt.wantCode || svc.calls.Load() != tt.wantCalls {
				t.Fatalf("err %v after %d calls; want %v after %d", err, svc.calls.Load(), tt.wantCode, tt.wantCalls)
			}
		})
	}
}

func TestBudgetBoundsAttemptsAgainstAnUpstreamFailingEverything(t *testing.T) {
	const calls, burst, ratio = 400, 5, 0.1
	budget, err := NewBudget(ratio, burst)
	if err != nil {
		t.Fatal(err)
	}
	p := fastPolicy()
	p.MaxAttempts = 5
	p.InitialBackoff, p.MaxBackoff = time.Microsecond, time.Microsecond
	svc := &flaky{failFirst: 1 << 40, code: codes.Unavailable}
	client := serve(t, svc, mustInterceptor(t, WithMethod(check, p), WithBudget(budget)))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range calls / 8 {
				client.Check(t.Context(), &healthpb.HealthCheckRequest{})
			}
		})
	}
	wg.Wait()
	limit := int64(calls + burst + ratio*calls)
	if got := svc.calls.Load(); got > limit || got <= calls {
		t.Fatalf("upstream saw %d attempts for %d calls; want some retries but at most %d", got, calls, limit)
	}
}

func TestARetryNeverOutlivesTheCallersDeadline(t *testing.T) {
	p := fastPolicy()
	p.InitialBackoff, p.MaxBackoff = time.Hour, time.Hour
	svc := &flaky{failFirst: 10, code: codes.Unavailable}
	client := serve(t, svc, mustInterceptor(t, WithMethod(check, p)))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
	// The hour-long wait cannot fit in the deadline: the upstream's own error comes back at
	// once.
	if status.Code(err) != codes.Unavailable || svc.calls.Load() != 1 || ctx.Err() != nil {
		t.Fatalf("err %v after %d calls (ctx %v); want the first Unavailable with the deadline unspent",
			err, svc.calls.Load(), ctx.Err())
	}
}

func TestAttemptsRunUnderTheCallersContext(t *testing.T) {
	type key struct{}
	var seen []any
	ic := mustInterceptor(t, WithMethod(check, fastPolicy()))
	ctx := context.WithValue(t.Context(), key{}, "caller")
	invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		seen = append(seen, ctx.Value(key{}))
		return status.Error(codes.Unavailable, "down")
	}
	ic(ctx, check, nil, nil, nil, invoker)
	if len(seen) != 3 || seen[2] != "caller" {
		t.Fatalf("attempts saw %v, want three attempts under the caller's context", seen)
	}
}

func TestABreakerRefusalIsNotRetried(t *testing.T) {
	ic := mustInterceptor(t, WithMethod(check, fastPolicy()))
	g, err := breaker.NewGroup(breaker.CircuitFactory(breaker.WithMinRequests(1), breaker.WithSleepWindow(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	guard := breaker.UnaryClientInterceptor(g)
	var attempts int
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
		attempts++
		return status.Error(codes.Unavailable, "down")
	}
	chained := func(ctx context.Context, m string, req, reply any, cc *grpc.ClientConn, _ ...grpc.CallOption) error {
		return guard(ctx, m, req, reply, cc, invoker)
	}
	err = ic(t.Context(), check, nil, nil, nil, chained)
	if !errors.Is(err, breaker.ErrOpen) || attempts != 1 {
		t.Fatalf("err %v after %d attempts; want the refusal after the one attempt that opened the breaker", err, attempts)
	}
}

func TestBackoffGrowsIsCappedAndJittered(t *testing.T) {
	p := Policy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 2, Jitter: 0.2}
	tests := []struct {
		retry    int
		min, max time.Duration
	}{
		{1, 80 * time.Millisecond, 120 * time.Millisecond},
		{2, 160 * time.Millisecond, 240 * time.Millisecond},
		{3, 320 * time.Millisecond, 480 * time.Millisecond},
		{10, 800 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			if d := p.Backoff(tt.retry); d < tt.min || d > tt.max {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", tt.retry, d, tt.min, tt.max)
			}
		}
	}
}

func TestBadPoliciesAreRefused(t *testing.T) {
	mod := func(f func(*Policy)) Policy { p := DefaultPolicy(); f(&p); return p }
	tests := []struct {
		name string
		opt  Option
	}{
		{"zero attempts", WithMethod(check, mod(func(p *Policy) { p.MaxAttempts = 0 }))},
		{"a max backoff below the initial one", WithMethod(check, mod(func(p *Policy) { p.MaxBackoff = time.Millisecond }))},
		{"a shrinking multiplier", WithMethod(check, mod(func(p *Policy) { p.Multiplier = 0.5 }))},
		{"jitter above one", WithDefaultPolicy(mod(func(p *Policy) { p.Jitter = 2 }))},
		{"no retryable codes", WithMethod(check, mod(func(p *Policy) { p.Codes = nil }))},
		{"OK as a retryable code", WithMethod(check, mod(func(p *Policy) { p.Codes = []codes.Code{codes.OK} }))},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			if _, err := UnaryClientInterceptor(tt.opt); !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("err = %v, want ErrInvalidPolicy", err)
			}
		})
	}
	if _, err := NewBudget(1.5, 1); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("NewBudget(1.5, 1) err = %v, want ErrInvalidPolicy", err)
	}
}

// A call marked Handled is sent once: an outer layer does its retries.
func TestHandledIsSentOnce(t *testing.T) {
	svc := &flaky{failFirst: 5, code: codes.Unavailable}
	p := DefaultPolicy()
	p.InitialBackoff, p.MaxBackoff = time.Millisecond, time.Millisecond
	ic, err := UnaryClientInterceptor(WithDefaultPolicy(p))
	if err != nil {
		t.Fatal(err)
	}
	c := serve(t, svc, ic)
	if _, err := c.Check(Handled(context.Background()), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
	if n := svc.calls.Load(); n != 1 {
		t.Fatalf("%d attempts of a Handled call, want 1", n)
	}
	if _, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
	if n := svc.calls.Load(); n != 1+3 {
		t.Fatalf("%d attempts in all, want 1 then 3", n)
	}
}
