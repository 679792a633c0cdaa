package telemetry_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/tianshu-go/tianshu/internal/headerfloor"
	"github.com/tianshu-go/tianshu/internal/pairbench"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/telemetry"
	"github.com/tianshu-go/tianshu/tracing"
)

// benchConcurrency is the number of calls in flight, as in the project's QPS figures.
const benchConcurrency = 100

// BenchmarkEcho measures a unary echo (128 B) over loopback with client and server in this
// process, at 100 concurrent calls (closed loop): bare grpc-go; the floors under any
// instrumentation (an empty stats handler, a constant traceparent header, a traceparent
// with a new span ID per call); otelgrpc v0.72 at 1% sampling; Tianshu's stats handler at
// 1%; and Tianshu's interceptors before Setup, with sampling off, at 1% and at 100%, and at
// 1% without metrics, without propagation, or on a plain SDK provider (which leaves every
// sampling decision to the SDK). Every instrumented case records metrics into an SDK meter
// provider unless it says otherwise, and exports sampled spans through a batch processor to
// a no-op exporter.
//
// Each case alternates up to thirty rounds of calls on a bare grpc-go pair with as many on
// its own instrumented pair, so that both see the same background load; x-bare is the
// median over those pairs of rounds of the instrumented throughput over the bare (the bare
// case measures the method's noise: ideally 1). ns/op, calls/s, cpu-ns/call (client and
// server together) and allocs/op are the instrumented rounds'.
//
//	go test -run '^$' -bench BenchmarkEcho -benchmem -benchtime=20000x -count=3 ./tracing/
func BenchmarkEcho(b *testing.B) {
	cases := []struct {
		name  string
		ratio float64
		opts  func(tp trace.TracerProvider, mp *sdkmetric.MeterProvider) ([]grpc.ServerOption, []grpc.DialOption)
	}{
		{"bare", 0, nil},
		{"empty-stats-handler", 0, emptyHandlerOpts},
		{"traceparent-header-only", 0, headerOnlyOpts},
		{"unique-traceparent-only", 0, uniqueHeaderOpts},
		{"tianshu-interceptors/before-setup", 0, unsetGlobalsOpts},
		{"otelgrpc/sample=1%", 0.01, otelgrpcOpts},
		{"tianshu-stats/sample=1%", 0.01, tianshuOpts},
		{"tianshu-interceptors/sample=0", 0, interceptorOpts},
		{"tianshu-interceptors/sample=1%", 0.01, interceptorOpts},
		{"tianshu-interceptors/sample=100%", 1, interceptorOpts},
		{"tianshu-interceptors/sample=1%,no-metrics", 0.01, func(tp trace.TracerProvider, _ *sdkmetric.MeterProvider) ([]grpc.ServerOption, []grpc.DialOption) {
			return interceptorOpts(tp, nil)
		}},
		{"tianshu-interceptors/sample=1%,sdk-provider", 0.01, interceptorOpts},
		{"tianshu-interceptors/sample=1%,no-propagation", 0.01, func(tp trace.TracerProvider, mp *sdkmetric.MeterProvider) ([]grpc.ServerOption, []grpc.DialOption) {
			o := []telemetry.Option{telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(mp),
				telemetry.WithTextMapPropagator(propagation.NewCompositeTextMapPropagator())}
			return []grpc.ServerOption{grpc.UnaryInterceptor(telemetry.NewServerHandler(o...).UnaryServerInterceptor())},
				[]grpc.DialOption{grpc.WithUnaryInterceptor(telemetry.NewClientHandler(o...).UnaryClientInterceptor())}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var sopts []grpc.ServerOption
			var dopts []grpc.DialOption
			if c.opts != nil {
				tp := benchProvider(b, c.ratio, strings.HasSuffix(c.name, ",sdk-provider"))
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
				sopts, dopts = c.opts(tp, mp)
			}
			bare := startEcho(b, &echoServer{id: "bare"}, nil, nil)
			client := startEcho(b, &echoServer{id: "bench"}, sopts, dopts)
			compare(b, bare, client)
		})
	}
}

// benchProvider returns a tracer provider sampling ratio of root spans (and following the
// parent otherwise) that exports to a no-op exporter through a batch processor: Tianshu's
// (NewTracerProvider), whose sampling rule the handlers apply themselves, or with sdk the
// SDK's own, on which they leave every decision to the SDK.
func benchProvider(b *testing.B, ratio float64, sdk bool) trace.TracerProvider {
	if sdk {
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
			sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		return tp
	}
	tp, err := tracing.NewTracerProvider(context.Background(), tracing.WithSampleRatio(ratio),
		tracing.WithExporter(tracetest.NewNoopExporter()), tracing.WithServiceName("bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

// compare runs b.N echo calls on client beside as many on bare (see pairbench.Compare).
func compare(b *testing.B, bare, client testpb.EchoClient) {
	req := &testpb.EchoRequest{Payload: make([]byte, 128)}
	echo := func(c testpb.EchoClient) func() error {
		return func() error {
			_, err := c.Echo(context.Background(), req)
			return err
		}
	}
	pairbench.Compare(b, pairbench.Options{Concurrency: benchConcurrency, Unit: "bare"}, echo(bare), echo(client))
}

func otelgrpcOpts(tp trace.TracerProvider, mp *sdkmetric.MeterProvider) ([]grpc.ServerOption, []grpc.DialOption) {
	o := []otelgrpc.Option{otelgrpc.WithTracerProvider(tp), otelgrpc.WithMeterProvider(mp),
		otelgrpc.WithPropagators(telemetry.Propagator())}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(o...))},
		[]grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(o...))}
}

func tianshuOpts(tp trace.TracerProvider, mp *sdkmetric.MeterProvider) ([]grpc.ServerOption, []grpc.DialOption) {
	o := []telemetry.Option{telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(mp),
		telemetry.WithTextMapPropagator(telemetry.Propagator())}
	return []grpc.ServerOption{telemetry.ServerOption(o...)}, []grpc.DialOption{telemetry.DialOption(o...)}
}

// interceptorOpts installs Tianshu's interceptors; a nil mp records no metrics.
func interceptorOpts(tp trace.TracerProvider, mp *sdkmetric.MeterProvider) ([]grpc.ServerOption, []grpc.DialOption) {
	var meters metric.MeterProvider = noop.NewMeterProvider()
	if mp != nil {
		meters = mp
	}
	o := []telemetry.Option{telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(meters),
		telemetry.WithTextMapPropagator(telemetry.Propagator())}
	return []grpc.ServerOption{grpc.UnaryInterceptor(telemetry.NewServerHandler(o...).UnaryServerInterceptor())},
		[]grpc.DialOption{grpc.WithUnaryInterceptor(telemetry.NewClientHandler(o...).UnaryClientInterceptor())}
}

// BenchmarkInterceptorOverhead measures, on one goroutine and without a network, the CPU
// Tianshu's interceptors add to one call: the client interceptor (span, propagation,
// duration) hands the outgoing metadata to the server interceptor (extraction, span,
// duration) around an empty handler. The baseline is the same two calls with no
// interceptor work. Compare the difference with bare grpc-go's CPU per call
// (cpu-ns/call of BenchmarkEcho/bare) for the share of throughput tracing costs when the
// machine is too busy for BenchmarkEcho's wall-clock ratios to be steady.
//
//	go test -run '^$' -bench BenchmarkInterceptorOverhead -benchmem ./tracing/
func BenchmarkInterceptorOverhead(b *testing.B) {
	for _, c := range []struct {
		name  string
		ratio float64
		on    bool
		sdk   bool
	}{{"baseline", 0, false, false}, {"sample=0", 0, true, false}, {"sample=1%", 0.01, true, false},
		{"sample=100%", 1, true, false}, {"sample=1%,sdk-provider", 0.01, true, true}} {
		b.Run(c.name, func(b *testing.B) {
			tp := benchProvider(b, c.ratio, c.sdk)
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
			o := []telemetry.Option{telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(mp),
				telemetry.WithTextMapPropagator(telemetry.Propagator())}
			ci := telemetry.NewClientHandler(o...).UnaryClientInterceptor()
			si := telemetry.NewServerHandler(o...).UnaryServerInterceptor()
			info := &grpc.UnaryServerInfo{FullMethod: "/tianshu.test.Echo/Echo"}
			handler := func(context.Context, any) (any, error) { return nil, nil }
			server := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
				md, _ := metadata.FromOutgoingContext(ctx)
				sctx := metadata.NewIncomingContext(context.Background(), md)
				if !c.on {
					_, err := handler(sctx, req)
					return err
				}
				_, err := si(sctx, req, info, handler)
				return err
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				var err error
				if c.on {
					err = ci(ctx, info.FullMethod, nil, nil, nil, server)
				} else {
					err = server(ctx, info.FullMethod, nil, nil, nil)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// emptyHandler does nothing: it measures what grpc-go itself spends once any stats handler
// is installed (it then builds an event for every header, message and trailer, and copies
// the metadata into them), the floor under any stats-handler-based instrumentation.
type emptyHandler struct{}

func (emptyHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (emptyHandler) HandleRPC(context.Context, stats.RPCStats)                         {}
func (emptyHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (emptyHandler) HandleConn(context.Context, stats.ConnStats)                       {}

func emptyHandlerOpts(trace.TracerProvider, *sdkmetric.MeterProvider) ([]grpc.ServerOption, []grpc.DialOption) {
	return []grpc.ServerOption{grpc.StatsHandler(emptyHandler{})}, []grpc.DialOption{grpc.WithStatsHandler(emptyHandler{})}
}

// headerOnlyOpts sends a constant traceparent header and reads it on the server, with no
// tracing: HPACK sends it as an index into its table after the first call.
func headerOnlyOpts(trace.TracerProvider, *sdkmetric.MeterProvider) ([]grpc.ServerOption, []grpc.DialOption) {
	return headerfloor.Constant()
}

// uniqueHeaderOpts sends a new span ID in every request, as real propagation does: the
// floor under any propagation of W3C span contexts through grpc-go.
func uniqueHeaderOpts(trace.TracerProvider, *sdkmetric.MeterProvider) ([]grpc.ServerOption, []grpc.DialOption) {
	return headerfloor.Unique()
}

// unsetGlobalsOpts installs the interceptors as rpc does by default, in a process that never
// called Setup: OpenTelemetry's no-op globals.
func unsetGlobalsOpts(trace.TracerProvider, *sdkmetric.MeterProvider) ([]grpc.ServerOption, []grpc.DialOption) {
	o := []telemetry.Option{telemetry.WithTracerProvider(tracenoop.NewTracerProvider()),
		telemetry.WithMeterProvider(noop.NewMeterProvider()), telemetry.WithTextMapPropagator(propagation.NewCompositeTextMapPropagator())}
	return []grpc.ServerOption{grpc.UnaryInterceptor(telemetry.NewServerHandler(o...).UnaryServerInterceptor())},
		[]grpc.DialOption{grpc.WithUnaryInterceptor(telemetry.NewClientHandler(o...).UnaryClientInterceptor())}
}

// BenchmarkSDKHistogramRecord measures what one duration record costs in the OpenTelemetry
// SDK (v1.47), the handlers' only call into the meter per call, with a prebuilt attribute
// set like a client's (method, system, status code, server address and port) and with
// none. The SDK normalises the set on every Record (attrnorm.SetDedup, reading each
// attribute back through reflection), whatever the caller prebuilt; the difference between
// the two cases is that work, which no option of the metric API skips.
//
//	go test -run '^$' -bench BenchmarkSDKHistogramRecord -benchmem ./telemetry/
func BenchmarkSDKHistogramRecord(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	h, err := mp.Meter("bench").Float64Histogram("rpc.client.call.duration")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		set  attribute.Set
	}{{"attributes=0", *attribute.EmptySet()}, {"attributes=5", attribute.NewSet(
		attribute.String("rpc.method", "tianshu.test.Echo/Echo"), attribute.String("rpc.system.name", "grpc"),
		attribute.String("rpc.response.status_code", "OK"), attribute.String("server.address", "echo"),
		attribute.Int("server.port", 8080))}} {
		b.Run(c.name, func(b *testing.B) {
			opts := []metric.RecordOption{metric.WithAttributeSet(c.set)}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				h.Record(ctx, 0.001, opts...)
			}
		})
	}
}
