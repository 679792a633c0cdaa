package rpc_test

import (
	"context"
	"math"
	"runtime"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/telemetry"
)

// Turning telemetry on adds to a call what its two interceptors allocate themselves and
// nothing more: no link of grpc-go's interceptor chain (a closure per link and call) for
// the server's recovery or the application's first client interceptor.
func TestTelemetryAddsOnlyItsOwnAllocationsToACall(t *testing.T) {
	topts := []telemetry.Option{telemetry.WithTracerProvider(tracenoop.NewTracerProvider()),
		telemetry.WithMeterProvider(metricnoop.NewMeterProvider()), telemetry.WithTextMapPropagator(telemetry.Propagator())}
	pass := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	perCall := func(telemetryOn bool) float64 {
		reg := newRegistry(t)
		sopts := []rpc.ServerOption{rpc.WithService("echo"), rpc.WithInstanceID("a"), rpc.WithRegistrar(reg),
			rpc.WithDeregisterDelay(0), rpc.WithServerLogger(discardLogger())}
		dopts := []rpc.DialOption{rpc.WithDiscovery(reg), rpc.WithWaitReady(), rpc.WithUnaryClientInterceptors(pass)}
		if telemetryOn {
			h := telemetry.NewClientHandler(append(topts, telemetry.WithoutActiveCalls())...)
			sh := telemetry.NewServerHandler(topts...)
			t.Cleanup(func() { _ = sh.Close() })
			sopts = append(sopts, rpc.WithServerTelemetry(sh))
			dopts = append(dopts, rpc.WithClientTelemetry(h))
		} else {
			sopts = append(sopts, rpc.WithoutTelemetry())
			dopts = append(dopts, rpc.WithoutClientTelemetry())
		}
		srv := rpc.NewServer(sopts...)
		testpb.RegisterEchoServer(srv, echo{id: "a"})
		echotest.Run(t, srv)
		conn, err := rpc.Dial(context.Background(), "tianshu:///echo", dopts...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := testpb.NewEchoClient(conn)
		return allocsPerCall(t, func() {
			if _, err := c.Echo(context.Background(), &testpb.EchoRequest{}); err != nil {
				t.Fatal(err)
			}
		})
	}
	off, on := perCall(false), perCall(true)

	// What the interceptors allocate by themselves, around calls that go nowhere.
	ch := telemetry.NewClientHandler(append(topts, telemetry.WithoutActiveCalls())...)
	ci := ch.UnaryClientInterceptor()
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	si := telemetry.NewServerHandler(append(topts, telemetry.WithoutActiveCalls())...).UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/tianshu.test.Echo/Echo"}
	sctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("content-type", "application/grpc"))
	handler := func(context.Context, any) (any, error) { return nil, nil }
	own := testing.AllocsPerRun(1000, func() {
		_ = ci(context.Background(), info.FullMethod, nil, nil, nil, invoker)
		_, _ = si(sctx, nil, info, handler)
	})
	t.Logf("per call: telemetry off %.2f, on %.2f; the interceptors alone %.0f", off, on, own)
	// One closure of grpc-go's chain would add one; the call itself measures 0.3-0.5 above
	// the interceptors alone (buffers grpc-go pools and sometimes allocates).
	if on-off > own+0.75 {
		t.Errorf("telemetry adds %.2f allocations a call (%.2f against %.2f), its interceptors %.0f: the rest is the chain's",
			on-off, on, off, own)
	}
}

// allocsPerCall returns the process's average allocations over many runs of call, which
// includes the server's side of an in-process call. It is the lowest of five rounds: other
// goroutines of the process (a balancer's probe, a registry's timer) only ever add to a
// round, so the lowest is the nearest to the call's own.
func allocsPerCall(t *testing.T, call func()) float64 {
	t.Helper()
	for range 100 {
		call()
	}
	const n = 1000
	lowest := math.Inf(1)
	for range 5 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			call()
		}
		runtime.ReadMemStats(&after)
		lowest = min(lowest, float64(after.Mallocs-before.Mallocs)/n)
	}
	return lowest
}
