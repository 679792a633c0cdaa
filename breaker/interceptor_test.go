package breaker

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// scripted is a health service whose answers the test chooses: the request's service field
// names the status code to return ("OK", "Unavailable", ...). Watch sends one message, then
// ends with that code.
type scripted struct {
	healthpb.UnimplementedHealthServer
	calls atomic.Int64
}

func codeNamed(name string) codes.Code {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if c.String() == name {
			return c
		}
	}
	panic("no code named " + name)
}

func (s *scripted) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	s.calls.Add(1)
	if req.Service == "Slow" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if c := codeNamed(req.Service); c != codes.OK {
		return nil, status.Error(c, "scripted "+req.Service)
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (s *scripted) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	s.calls.Add(1)
	if err := stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
		return err
	}
	if c := codeNamed(req.Service); c != codes.OK {
		return status.Error(c, "scripted "+req.Service)
	}
	return nil
}

// startServer serves a scripted health service on a loopback port until the test ends.
func startServer(t *testing.T) (addr string, svc *scripted) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1: %v", err)
	}
	srv := grpc.NewServer()
	svc = &scripted{}
	healthpb.RegisterHealthServer(srv, svc)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), svc
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatalf("NewClient(%s): %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func newTestGroup(t *testing.T, f Factory) *Group {
	t.Helper()
	g, err := NewGroup(f)
	if err != nil {
		t.Fatalf("NewGroup: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// strictCircuit opens after 5 calls of which 5 failed and stays open for the test's life.
func strictCircuit() Factory {
	return CircuitFactory(WithMinRequests(5), WithCountWindow(5), WithFailureRatio(1), WithSleepWindow(time.Hour))
}

const checkMethod = "/grpc.health.v1.Health/Check"

func TestUnaryInterceptorOpensOnServerFailuresOnly(t *testing.T) {
	tests := []struct {
		code      string
		wantsOpen bool
	}{
		{"Unavailable", true},
		{"DeadlineExceeded", true},
		{"ResourceExhausted", true},
		{"Internal", true},
		{"Unknown", true},
		{"DataLoss", true},
		{"InvalidArgument", false},
		{"NotFound", false},
		{"AlreadyExists", false},
		{"PermissionDenied", false},
		{"Unauthenticated", false},
		{"OK", false},
	}
	for _, tt := range tests {
		name := "a server answering " + tt.code + " keeps the breaker closed"
		if tt.wantsOpen {
			name = "a server answering " + tt.code + " opens the breaker"
		}
		t.Run(name, func(t *testing.T) {
			addr, svc := startServer(t)
			g := newTestGroup(t, strictCircuit())
			client := dial(t, addr, grpc.WithUnaryInterceptor(UnaryClientInterceptor(g)))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for range 5 {
				client.Check(ctx, &healthpb.HealthCheckRequest{Service: tt.code})
			}
			_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: tt.code})
			rejected := errors.Is(err, ErrOpen)
			if rejected != tt.wantsOpen {
				t.Fatalf("sixth call: err = %v; rejected = %v, want %v", err, rejected, tt.wantsOpen)
			}
			if wantCalls := map[bool]int64{true: 5, false: 6}[tt.wantsOpen]; svc.calls.Load() != wantCalls {
				t.Fatalf("server saw %d calls, want %d", svc.calls.Load(), wantCalls)
			}
		})
	}
}

func TestUnaryInterceptorRefusesWithUnavailableNamingTheBreaker(t *testing.T) {
	addr, _ := startServer(t)
	g := newTestGroup(t, strictCircuit())
	client := dial(t, addr, grpc.WithUnaryInterceptor(UnaryClientInterceptor(g)))
	ctx := t.Context()
	for range 5 {
		client.Check(ctx, &healthpb.HealthCheckRequest{Service: "Unavailable"})
	}
	_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "OK"})
	st, _ := status.FromError(err)
	if st.Code() != codes.Unavailable || !strings.Contains(st.Message(), checkMethod) {
		t.Fatalf("status = %v, want Unavailable naming %s", st, checkMethod)
	}
	stats := g.Stats()
	if len(stats) != 1 || stats[0].Name != checkMethod || stats[0].State != Open || stats[0].Rejected != 1 {
		t.Fatalf("group stats = %+v, want the Check breaker open with one rejection", stats)
	}
}

func TestUnaryInterceptorDoesNotCountCallsTheCallerCancelled(t *testing.T) {
	addr, svc := startServer(t)
	g := newTestGroup(t, strictCircuit())
	client := dial(t, addr, grpc.WithUnaryInterceptor(UnaryClientInterceptor(g)))
	for range 6 {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			// Cancel once the server holds the call, or after a generous wait on a loaded
			// machine.
			for start := time.Now(); svc.calls.Load() == 0 && time.Since(start) < 10*time.Second; {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "Slow"})
		if status.Code(err) != codes.Canceled {
			t.Fatalf("err = %v, want Canceled", err)
		}
	}
	if s := g.Stats()[0]; s.State != Closed || s.Failures != 0 {
		t.Fatalf("stats after cancelled calls = %+v, want closed without failures", s)
	}
}

func TestUnaryInterceptorCallsTheFallbackOnlyWhenRefusing(t *testing.T) {
	addr, _ := startServer(t)
	g := newTestGroup(t, strictCircuit())
	var fallbacks atomic.Int64
	fallback := func(ctx context.Context, method string, req, reply any, err error) error {
		fallbacks.Add(1)
		if method != checkMethod || !errors.Is(err, ErrOpen) {
			t.Errorf("fallback got method %q and err %v", method, err)
		}
		reply.(*healthpb.HealthCheckResponse).Status = healthpb.HealthCheckResponse_UNKNOWN
		return nil
	}
	client := dial(t, addr, grpc.WithUnaryInterceptor(UnaryClientInterceptor(g, WithUnaryFallback(fallback))))
	for range 5 {
		if _, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "Internal"}); status.Code(err) != codes.Internal {
			t.Fatalf("failed call returned %v, want the upstream's Internal", err)
		}
	}
	resp, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "OK"})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_UNKNOWN || fallbacks.Load() != 1 {
		t.Fatalf("refused call: resp %v err %v after %d fallbacks; want the fallback's answer once", resp, err, fallbacks.Load())
	}
}

func TestStreamInterceptorJudgesAStreamByItsFinalStatus(t *testing.T) {
	tests := []struct {
		code      string
		wantsOpen bool
	}{
		{"Unavailable", true},
		{"Internal", true},
		{"NotFound", false},
		{"OK", false},
	}
	for _, tt := range tests {
		t.Run("streams ending in "+tt.code, func(t *testing.T) {
			addr, svc := startServer(t)
			g := newTestGroup(t, strictCircuit())
			client := dial(t, addr, grpc.WithStreamInterceptor(StreamClientInterceptor(g)))
			for range 5 {
				stream, err := client.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: tt.code})
				if err != nil {
					t.Fatalf("Watch: %v", err)
				}
				for {
					if _, err := stream.Recv(); err != nil {
						break
					}
				}
			}
			_, err := client.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "OK"})
			if got := errors.Is(err, ErrOpen); got != tt.wantsOpen {
				t.Fatalf("sixth stream: err %v, refused = %v, want %v (server saw %d)", err, got, tt.wantsOpen, svc.calls.Load())
			}
			if tt.wantsOpen && status.Code(err) != codes.Unavailable {
				t.Fatalf("refusal code = %v, want Unavailable", status.Code(err))
			}
		})
	}
}

func TestStreamInterceptorCountsAnAbandonedStreamOnceItsContextEnds(t *testing.T) {
	addr, _ := startServer(t)
	g := newTestGroup(t, CircuitFactory(WithMinRequests(1), WithSleepWindow(time.Millisecond), WithHalfOpenProbes(1)))
	client := dial(t, addr, grpc.WithStreamInterceptor(StreamClientInterceptor(g)))
	// Open the breaker, wait out the sleep window, then take the single probe and abandon it.
	stream, err := client.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "Unavailable"})
	if err != nil {
		t.Fatal(err)
	}
	for ; err == nil; _, err = stream.Recv() {
	}
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "OK"}); err != nil {
		t.Fatalf("probe refused: %v", err)
	}
	cancel() // the caller walks away without reading
	deadline := time.Now().Add(10 * time.Second)
	for g.Stats()[0].State != Closed {
		if time.Now().After(deadline) {
			t.Fatalf("breaker still %v 10s after the probe's context ended", g.Stats()[0].State)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStreamInterceptorCallsTheFallbackWhenRefusing(t *testing.T) {
	addr, _ := startServer(t)
	g := newTestGroup(t, CircuitFactory(WithMinRequests(1), WithSleepWindow(time.Hour)))
	sentinel := errors.New("served from cache")
	fallback := func(ctx context.Context, desc *grpc.StreamDesc, method string, err error) (grpc.ClientStream, error) {
		return nil, sentinel
	}
	client := dial(t, addr, grpc.WithStreamInterceptor(StreamClientInterceptor(g, WithStreamFallback(fallback))))
	stream, _ := client.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "DataLoss"})
	for err := error(nil); err == nil; _, err = stream.Recv() {
	}
	if _, err := client.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "OK"}); !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want the fallback's", err)
	}
}

func TestInterceptorKeysBreakersByMethod(t *testing.T) {
	addr, _ := startServer(t)
	g := newTestGroup(t, CircuitFactory(WithMinRequests(1), WithSleepWindow(time.Hour)))
	client := dial(t, addr, grpc.WithUnaryInterceptor(UnaryClientInterceptor(g)),
		grpc.WithStreamInterceptor(StreamClientInterceptor(g)))
	client.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "Unavailable"})
	stream, err := client.Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "OK"})
	if err != nil {
		t.Fatalf("Watch refused after Check failed: %v", err)
	}
	for ; err == nil; _, err = stream.Recv() {
	}
	names := []string{}
	for _, s := range g.Stats() {
		names = append(names, s.Name+"="+s.State.String())
	}
	if got := strings.Join(names, ","); got != checkMethod+"=open,/grpc.health.v1.Health/Watch=closed" {
		t.Fatalf("breakers = %s", got)
	}
}

func TestIsFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"no error is not a failure", nil, false},
		{"Unavailable is a failure", status.Error(codes.Unavailable, ""), true},
		{"DeadlineExceeded is a failure", status.Error(codes.DeadlineExceeded, ""), true},
		{"a plain error counts as Unknown", errors.New("boom"), true},
		{"a context deadline is a failure", context.DeadlineExceeded, true},
		{"Canceled is the caller's doing", status.Error(codes.Canceled, ""), false},
		{"a cancelled context is the caller's doing", context.Canceled, false},
		{"FailedPrecondition is the caller's doing", status.Error(codes.FailedPrecondition, ""), false},
		{"a breaker's own refusal is not the upstream's failure", newRejection("m"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsFailure(tt.err); got != tt.want {
				t.Fatalf("IsFailure(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
