package ratelimit

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
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTokenBucketAdmitsBurstThenRate(t *testing.T) {
	b, err := NewTokenBucket(10, 3)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	b.now = func() time.Time { return now }
	b.last = now
	admitted := func() int {
		n := 0
		for range 10 {
			if done, ok := b.Allow(); ok {
				done()
				n++
			}
		}
		return n
	}
	if n := admitted(); n != 3 {
		t.Fatalf("a full bucket admitted %d of 10, want the burst of 3", n)
	}
	now = now.Add(200 * time.Millisecond)
	if n := admitted(); n != 2 {
		t.Fatalf("200ms at 10/s admitted %d, want 2", n)
	}
	now = now.Add(time.Hour)
	if n := admitted(); n != 3 {
		t.Fatalf("after an idle hour admitted %d, want only the burst of 3", n)
	}
}

func TestConstructorsRefuseBadSettings(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"a zero rate", second(NewTokenBucket(0, 1))},
		{"a zero burst", second(NewTokenBucket(1, 0))},
		{"a headroom below one", second(NewAdaptive(WithHeadroom(0.5)))},
		{"a zero in-flight floor", second(NewAdaptive(WithMinInFlight(0)))},
		{"buckets under a millisecond", second(NewAdaptive(WithAdaptiveWindow(time.Millisecond, 10)))},
		{"no buckets", second(NewAdaptive(WithAdaptiveWindow(time.Second, 0)))},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			if !errors.Is(tt.err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", tt.err)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

// warmAdaptive returns a limiter on a frozen fake clock that has measured 10 calls per 100 ms
// bucket at 10 ms each for over a second: capacity 1 in flight, limit ceil(1.5 * 1) = 2.
func warmAdaptive(t *testing.T, opts ...AdaptiveOption) *Adaptive {
	t.Helper()
	var now atomic.Int64
	a, err := NewAdaptive(append([]AdaptiveOption{WithMinInFlight(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	a.now = func() time.Duration { return time.Duration(now.Load()) }
	a.start, a.epoch = 0, 0
	for now.Load() < int64(1200*time.Millisecond) {
		done, ok := a.Allow()
		if !ok {
			t.Fatal("refused during warm-up")
		}
		now.Add(int64(10 * time.Millisecond))
		done()
	}
	return a
}

func TestAdaptiveLimitFollowsMeasuredCapacity(t *testing.T) {
	a := warmAdaptive(t)
	if got := a.Limit(); got != 2 {
		t.Fatalf("Limit = %d, want 2 (1.5 x 10 calls per 100ms x 10ms)", got)
	}
	d1, ok1 := a.Allow()
	d2, ok2 := a.Allow()
	_, ok3 := a.Allow()
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("admitted %v %v %v, want two in flight and the third refused", ok1, ok2, ok3)
	}
	d1()
	if d, ok := a.Allow(); !ok {
		t.Fatal("refused after an in-flight call finished")
	} else {
		d()
	}
	d2()
	if a.InFlight() != 0 {
		t.Fatalf("InFlight = %d after all done", a.InFlight())
	}
}

func TestAdaptiveShedsOnlyWhileTheOverloadSignalIsOn(t *testing.T) {
	var overloaded atomic.Bool
	a := warmAdaptive(t, WithOverloadSignal(overloaded.Load))
	var dones []func()
	for range 5 {
		d, ok := a.Allow()
		if !ok {
			t.Fatal("refused without overload")
		}
		dones = append(dones, d)
	}
	overloaded.Store(true)
	if _, ok := a.Allow(); ok {
		t.Fatal("admitted a sixth call in flight while overloaded with a limit of 2")
	}
	for _, d := range dones {
		d()
	}
}

func TestAdaptiveIsUnlimitedWhileWarmingUp(t *testing.T) {
	a, err := NewAdaptive(WithMinInFlight(1))
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, ok := a.Allow(); !ok {
			t.Fatal("refused before any capacity was measured")
		}
	}
}

// blocking is a health service whose Check waits until release is closed; Watch ends at once.
type blocking struct {
	healthpb.UnimplementedHealthServer
	entered chan struct{}
	release chan struct{}
}

func (b *blocking) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	b.entered <- struct{}{}
	<-b.release
	return &healthpb.HealthCheckResponse{}, nil
}

func (b *blocking) Watch(*healthpb.HealthCheckRequest, healthpb.Health_WatchServer) error { return nil }

func serve(t *testing.T, svc healthpb.HealthServer, opts ...Option) healthpb.HealthClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1: %v", err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(UnaryServerInterceptor(opts...)),
		grpc.StreamInterceptor(StreamServerInterceptor(opts...)))
	healthpb.RegisterHealthServer(srv, svc)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func TestInterceptorsRefuseCallsOverAMethodsBucketWithResourceExhausted(t *testing.T) {
	bucket, err := NewTokenBucket(1e-9, 2) // two calls, then practically never
	if err != nil {
		t.Fatal(err)
	}
	svc := &blocking{entered: make(chan struct{}, 10), release: make(chan struct{})}
	close(svc.release)
	client := serve(t, svc, ForMethod("/grpc.health.v1.Health/Check", bucket),
		ForMethod("/grpc.health.v1.Health/Watch", bucket))
	for i := range 2 {
		if _, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err = client.Check(t.Context(), &healthpb.HealthCheckRequest{})
	if st, _ := status.FromError(err); st.Code() != codes.ResourceExhausted {
		t.Fatalf("third call: %v, want ResourceExhausted", err)
	}
	stream, err := client.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("stream over the shared bucket: %v, want ResourceExhausted", err)
	}
}

func TestInterceptorShedsCallsBeyondMeasuredCapacity(t *testing.T) {
	a := warmAdaptive(t) // limit 2 in flight
	svc := &blocking{entered: make(chan struct{}, 10), release: make(chan struct{})}
	client := serve(t, svc, ForAll(a))
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			_, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{})
			errs <- err
		})
	}
	<-svc.entered
	<-svc.entered
	_, err := client.Check(t.Context(), &healthpb.HealthCheckRequest{})
	close(svc.release)
	wg.Wait()
	close(errs)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third concurrent call: %v, want ResourceExhausted", err)
	}
	for err := range errs {
		if err != nil {
			t.Fatalf("an admitted call failed: %v", err)
		}
	}
}
