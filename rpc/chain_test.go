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

// BenchmarkTelemetryAllocations measures what turning telemetry on adds to a call's
// allocations (client and server, in process), beside what its two interceptors allocate by
// themselves around calls that go nowhere. The difference should be the interceptors' own:
// no link of grpc-go's interceptor chain (a closure per link and call) for the server's
// recovery or the application's first client interceptor. It is a benchmark, not a test,
// because a whole process's allocation count moves by one or more a call under load:
//
//	go test -run '^$' -bench BenchmarkTelemetryAllocations ./rpc/
//
// reports extra/call (on minus off) and own/call; 2026-12-07: 4.0-4.5 against 4 (6.0 with
// grpc-go's chain for both links).
func BenchmarkTelemetryAllocations(b *testing.B) {
	topts := []telemetry.Option{telemetry.WithTracerProvider(tracenoop.NewTracerProvider()),
		telemetry.WithMeterProvider(metricnoop.NewMeterProvider()), telemetry.WithTextMapPropagator(telemetry.Propagator())}
	pass := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	perCall := func(telemetryOn bool) float64 {
		reg := newRegistry(b)
		sopts := []rpc.ServerOption{rpc.WithService("echo"), rpc.WithInstanceID("a"), rpc.WithRegistrar(reg),
			rpc.WithDeregisterDelay(0), rpc.WithServerLogger(discardLogger())}
		dopts := []rpc.DialOption{rpc.WithDiscovery(reg), rpc.WithWaitReady(), rpc.WithUnaryClientInterceptors(pass)}
		if telemetryOn {
			h := telemetry.NewClientHandler(append(topts, telemetry.WithoutActiveCalls())...)
			b.Cleanup(func() { _ = h.Close() })
			sh := telemetry.NewServerHandler(topts...)
			b.Cleanup(func() { _ = sh.Close() })
			sopts = append(sopts, rpc.WithServerTelemetry(sh))
			dopts = append(dopts, rpc.WithClientTelemetry(h))
		} else {
			sopts = append(sopts, rpc.WithoutTelemetry())
			dopts = append(dopts, rpc.WithoutClientTelemetry())
		}
		srv := rpc.NewServer(sopts...)
		testpb.RegisterEchoServer(srv, echo{id: "a"})
		echotest.Run(b, srv)
		conn, err := rpc.Dial(context.Background(), "tianshu:///echo", dopts...)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		c := testpb.NewEchoClient(conn)
		return allocsPerCall(b, func() {
			if _, err := c.Echo(context.Background(), &testpb.EchoRequest{}); err != nil {
				b.Fatal(err)
			}
		})
	}
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
	var extra float64
	for range b.N {
		extra = perCall(true) - perCall(false)
	}
	b.ReportMetric(extra, "extra/call")
	b.ReportMetric(own, "own/call")
}

// allocsPerCall returns the process's average allocations over many runs of call, which
// includes the server's side of an in-process call. It is the lowest of five rounds: other
// goroutines of the process (a balancer's probe, a registry's timer) only ever add to a
// round, so the lowest is the nearest to the call's own.
func allocsPerCall(tb testing.TB, call func()) float64 {
	tb.Helper()
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
