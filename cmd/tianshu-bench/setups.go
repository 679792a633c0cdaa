package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/headerfloor"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/metrics"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/telemetry"
	"github.com/tianshu-go/tianshu/tracing"
)

// instances is how many echo servers each set-up runs, so that balancing does real work.
const instances = 2

// stack is one set-up, ready to call.
type stack struct {
	client  testpb.EchoClient
	closers []func()
}

func (s *stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// features are what a Tianshu set-up turns on beyond discovery and P2C.
type features struct {
	breaker, metrics, tracing bool
	// noop installs the telemetry interceptors with no-op tracer and meter providers: what
	// the interceptors' own work costs, without the OpenTelemetry SDKs'.
	noop bool
	// defaults installs the telemetry interceptors as rpc does when told nothing: on
	// OpenTelemetry's global providers and propagator, which do nothing until
	// tracing.Setup (which no set-up calls).
	defaults bool
	// balancer is rpc.WithBalancer's name; empty for rpc's default, P2C.
	balancer string
}

var setupNames = []string{"bare", "discovery", "breaker", "metrics", "tracing", "full"}

// referenceNames are set-ups run only when named, to read Tianshu's figures against: a
// second bare stack (its ratio to bare is the method's noise); what any tracing on bare
// grpc-go costs (w3c-header) and what the usual instrumentation costs (otelgrpc);
// Tianshu's telemetry interceptors over no-op providers; the full stack's features written
// as plainly as they can be (minimum, a bound); the floor on servers with rpc's stream
// workers; and two calibrations that add a
// known cost to bare grpc-go, so that a ratio can be read as CPU or as allocation.
var referenceNames = []string{"bare-again", "w3c-header", "otelgrpc", "telemetry-noop", "telemetry-defaults", "minimum", "w3c-header-workers", "cpu-4us", "alloc-2KiB"}

// allSetupNames is every set-up the program knows, the usual ones first.
func allSetupNames() []string { return append(slices.Clone(setupNames), referenceNames...) }

var setupByName = map[string]func(context.Context) (*stack, error){
	"bare":               func(ctx context.Context) (*stack, error) { return bare(ctx, nil, nil) },
	"bare-again":         func(ctx context.Context) (*stack, error) { return bare(ctx, nil, nil) },
	"w3c-header":         w3cHeader,
	"otelgrpc":           otelgrpcStack,
	"telemetry-noop":     tianshu(features{noop: true}),
	"telemetry-defaults": tianshu(features{defaults: true}),
	"minimum":            minimum,
	"w3c-header-workers": w3cHeaderWorkers,
	"cpu-4us":            costStack(2*time.Microsecond, 0),
	"alloc-2KiB":         costStack(0, 4),
	"discovery":          tianshu(features{}),
	// discovery with other balancers than P2C, for what the balancer's spread of calls over
	// the two connections does to the system calls a call.
	"discovery-round-robin": tianshu(features{balancer: loadbalance.RoundRobin}),
	"discovery-random":      tianshu(features{balancer: loadbalance.Random}),
	"breaker":               tianshu(features{breaker: true}),
	"metrics":               tianshu(features{metrics: true}),
	"tracing":               tianshu(features{tracing: true}),
	"full":                  tianshu(features{breaker: true, metrics: true, tracing: true}),
}

// bare is the baseline: what a team gets from grpc-go alone. The reference set-ups add
// their options to it.
func bare(_ context.Context, sopts []grpc.ServerOption, dopts []grpc.DialOption) (*stack, error) {
	st := &stack{}
	var eps []resolver.Endpoint
	for i := range instances {
		addr, err := serveEcho(st, grpc.NewServer(sopts...), i)
		if err != nil {
			return nil, err
		}
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: addr.String()}}})
	}
	r := manual.NewBuilderWithScheme("bench")
	r.InitialState(resolver.State{Endpoints: eps})
	dopts = append([]grpc.DialOption{grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`)}, dopts...)
	conn, err := grpc.NewClient("bench:///echo", dopts...)
	if err != nil {
		st.close()
		return nil, err
	}
	st.closers = append(st.closers, func() { _ = conn.Close() })
	st.client = testpb.NewEchoClient(conn)
	return st, nil
}

// tianshu builds a set-up through rpc.NewServer and rpc.Dial with the given features.
func tianshu(f features) func(context.Context) (*stack, error) {
	return func(ctx context.Context) (*stack, error) {
		st := &stack{}
		reg := memory.New()
		st.closers = append(st.closers, func() { _ = reg.Close() })

		var tp trace.TracerProvider = tracenoop.NewTracerProvider()
		var mp metric.MeterProvider = metricnoop.NewMeterProvider()
		if f.tracing {
			// 1% of traces (Setup's default), a batch processor over an exporter that drops
			// spans: the cost of recording and queueing, without a collector's network time.
			sdk, err := tracing.NewTracerProvider(ctx, tracing.WithServiceName("echo"),
				tracing.WithExporter(discardExporter{}))
			if err != nil {
				return nil, err
			}
			tp = sdk
			st.closers = append(st.closers, func() { _ = sdk.Shutdown(context.Background()) })
		}
		if f.metrics {
			// What an application exposes on /metrics, never scraped here: the cost of
			// recording, not of collecting.
			prom, err := metrics.NewPrometheus(metrics.WithoutRuntimeMetrics())
			if err != nil {
				return nil, err
			}
			mp = prom.MeterProvider()
			st.closers = append(st.closers, func() { _ = prom.Shutdown(context.Background()) })
		}
		observed := f.tracing || f.metrics || f.noop || f.defaults
		hopts := []telemetry.Option{telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(mp), telemetry.WithTextMapPropagator(telemetry.Propagator())}
		if f.defaults {
			hopts = nil
		}
		var client *telemetry.Handler
		if observed {
			client = telemetry.NewClientHandler(hopts...)
			st.closers = append(st.closers, func() { _ = client.Close() })
		}

		for i := range instances {
			opts := []rpc.ServerOption{rpc.WithService("echo"), rpc.WithRegistrar(reg), rpc.WithInstanceID(fmt.Sprint(i)),
				rpc.WithDeregisterDelay(0), rpc.WithServerLogger(quiet)}
			if observed {
				h := telemetry.NewServerHandler(hopts...)
				st.closers = append(st.closers, func() { _ = h.Close() }) // after srv.Stop: closers run in reverse
				opts = append(opts, rpc.WithServerTelemetry(h))
			} else {
				opts = append(opts, rpc.WithoutTelemetry())
			}
			if _, err := serveEcho(st, rpc.NewServer(opts...), i); err != nil {
				return nil, err
			}
		}

		dopts := []rpc.DialOption{rpc.WithDiscovery(reg), rpc.WithWaitReady()}
		if f.balancer != "" {
			dopts = append(dopts, rpc.WithBalancer(f.balancer))
		}
		if f.breaker {
			g, err := breaker.NewGroup(breaker.AdaptiveFactory())
			if err != nil {
				st.close()
				return nil, err
			}
			st.closers = append(st.closers, func() { _ = g.Close() })
			dopts = append(dopts, rpc.WithUnaryClientInterceptors(breaker.UnaryClientInterceptor(g)))
		}
		if observed {
			dopts = append(dopts, rpc.WithClientTelemetry(client))
		} else {
			dopts = append(dopts, rpc.WithoutClientTelemetry())
		}
		conn, err := rpc.Dial(ctx, "tianshu:///echo", dopts...)
		if err != nil {
			st.close()
			return nil, err
		}
		st.closers = append(st.closers, func() { _ = conn.Close() })
		st.client = testpb.NewEchoClient(conn)
		return st, waitBoth(ctx, st)
	}
}

// echoServer is a grpc.Server or an rpc.Server.
type echoServer interface {
	grpc.ServiceRegistrar
	Serve(net.Listener) error
	Stop()
}

// serveEcho serves echo instance i on srv, on a loopback port, until st closes, and
// returns the port's address; it closes st if it cannot listen.
func serveEcho(st *stack, srv echoServer, i int) (net.Addr, error) {
	testpb.RegisterEchoServer(srv, echotest.Server{ID: fmt.Sprint(i)})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Stop()
		st.close()
		return nil, err
	}
	go srv.Serve(lis)
	st.closers = append(st.closers, srv.Stop)
	return lis.Addr(), nil
}

// waitBoth returns once calls have reached every instance, so that every round balances
// over all of them; it closes st if a call fails.
func waitBoth(ctx context.Context, st *stack) error {
	for seen := map[string]bool{}; len(seen) < instances; {
		r, err := st.client.Echo(ctx, &testpb.EchoRequest{}, grpc.WaitForReady(true))
		if err != nil {
			st.close()
			return err
		}
		seen[r.ServedBy] = true
	}
	return nil
}

// quiet drops the servers' logs, which would interleave with the report.
var quiet = slog.New(slog.DiscardHandler)

type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// w3cHeader is bare grpc-go whose client sends a traceparent with a new span ID in every
// request and whose server reads it, and nothing else: the floor under any tracer that
// propagates W3C trace context through grpc-go.
func w3cHeader(ctx context.Context) (*stack, error) {
	sopts, dopts := headerfloor.Unique()
	return bare(ctx, sopts, dopts)
}

// w3cHeaderWorkers is w3cHeader on servers that run calls on as many reused goroutines as
// rpc.NewServer keeps by default: the floor against which full's telemetry alone is read,
// rpc's stream workers being on both sides.
func w3cHeaderWorkers(ctx context.Context) (*stack, error) {
	sopts, dopts := headerfloor.Unique()
	sopts = append(sopts, grpc.NumStreamWorkers(uint32(rpc.DefaultStreamWorkers())))
	return bare(ctx, sopts, dopts)
}

// otelgrpcStack is bare grpc-go instrumented the usual way, with otelgrpc's stats handlers
// at 1% sampling and metrics into an SDK meter provider: what Tianshu's telemetry replaces.
func otelgrpcStack(ctx context.Context) (*stack, error) {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))),
		sdktrace.WithBatcher(discardExporter{}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	o := []otelgrpc.Option{otelgrpc.WithTracerProvider(tp), otelgrpc.WithMeterProvider(mp),
		otelgrpc.WithPropagators(telemetry.Propagator())}
	st, err := bare(ctx, []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(o...))},
		[]grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(o...))})
	shutdown := func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	}
	if err != nil {
		shutdown()
		return nil, err
	}
	st.closers = append([]func(){shutdown}, st.closers...)
	return st, nil
}

// costStack is bare grpc-go with a client and a server interceptor that each spend busy CPU
// time and allocate n objects of 256 B, which nothing keeps: a known cost per call (twice
// busy, 2n allocations), to show what a given CPU time or allocation costs in QPS on this
// machine. cpu-4us spends 4 µs a call, allocates nothing, and adds no goroutine or
// system call; alloc-2KiB allocates eight objects, 2 KiB a call, and spends no CPU beyond
// the allocation.
func costStack(busy time.Duration, n int) func(context.Context) (*stack, error) {
	var last atomic.Pointer[[256]byte] // so that the allocations reach the heap
	work := func() {
		if busy > 0 {
			for t0 := time.Now(); time.Since(t0) < busy; {
			}
		}
		for range n {
			last.Store(new([256]byte))
		}
	}
	ci := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		work()
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	si := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		work()
		return handler(ctx, req)
	}
	return func(ctx context.Context) (*stack, error) {
		return bare(ctx, []grpc.ServerOption{grpc.UnaryInterceptor(si)}, []grpc.DialOption{grpc.WithUnaryInterceptor(ci)})
	}
}
