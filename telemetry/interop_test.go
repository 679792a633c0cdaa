package telemetry_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/opentracing/opentracing-go"
	jaegerclient "github.com/uber/jaeger-client-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/telemetry"
)

// legacyTracer is a service still on github.com/uber/jaeger-client-go, sampling everything
// and keeping its finished spans in memory.
func legacyTracer(t *testing.T, service string) (opentracing.Tracer, *jaegerclient.InMemoryReporter) {
	rep := jaegerclient.NewInMemoryReporter()
	tr, closer := jaegerclient.NewTracer(service, jaegerclient.NewConstSampler(true), rep)
	t.Cleanup(func() { _ = closer.Close() })
	return tr, rep
}

// legacyServerInterceptor continues, with the legacy tracer, the trace the caller sent
// in its metadata, as grpc-opentracing's server interceptor would.
func legacyServerInterceptor(tr opentracing.Tracer) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		carrier := opentracing.TextMapCarrier{}
		for k, v := range md {
			carrier[k] = v[0]
		}
		parent, err := tr.Extract(opentracing.TextMap, carrier)
		if err != nil {
			return nil, fmt.Errorf("legacy service could not read the trace context in %v: %w", carrier, err)
		}
		span := tr.StartSpan(info.FullMethod, opentracing.ChildOf(parent))
		defer span.Finish()
		return h(opentracing.ContextWithSpan(ctx, span), req)
	}
}

// TestLegacyJaegerClientServicesShareTracesWithTianshu runs legacy -> Tianshu -> legacy:
// the Tianshu service's span is a child of the first legacy span, and the last legacy
// service's span is a child of Tianshu's client span, all in one trace.
func TestLegacyJaegerClientServicesShareTracesWithTianshu(t *testing.T) {
	upstream, _ := legacyTracer(t, "legacy-upstream")
	downstreamTr, downstreamRep := legacyTracer(t, "legacy-downstream")

	// The legacy service Tianshu calls.
	downstream := serveEcho(t, &echoServer{id: "legacy-downstream"},
		grpc.UnaryInterceptor(legacyServerInterceptor(downstreamTr)))

	// The Tianshu service in the middle, with the default propagator: it writes
	// uber-trace-id only because the trace arrived in that format.
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())),
		sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	hopts := []telemetry.Option{telemetry.WithTracerProvider(tp), telemetry.WithTextMapPropagator(telemetry.Propagator())}
	middle := startEcho(t, &echoServer{id: "tianshu", next: dial(t, downstream, telemetry.DialOption(hopts...))},
		[]grpc.ServerOption{telemetry.ServerOption(hopts...)}, nil)

	// The legacy caller.
	span := upstream.StartSpan("legacy-call")
	carrier := opentracing.TextMapCarrier{}
	if err := upstream.Inject(span.Context(), opentracing.TextMap, carrier); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for k, v := range carrier {
		ctx = metadata.AppendToOutgoingContext(ctx, k, v)
	}
	if _, err := middle.Echo(ctx, &testpb.EchoRequest{Payload: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	span.Finish()
	legacySC := span.Context().(jaegerclient.SpanContext)

	var server, client sdktrace.ReadOnlySpan
	for _, s := range waitSpans(t, rec, 2) {
		switch s.SpanKind().String() {
		case "server":
			server = s
		case "client":
			client = s
		}
	}
	if server == nil || client == nil {
		t.Fatalf("Tianshu recorded %d spans, want a server and a client span", len(rec.Ended()))
	}
	wantTrace := fmt.Sprintf("%032s", legacySC.TraceID().String())
	if got := server.SpanContext().TraceID().String(); got != wantTrace {
		t.Fatalf("Tianshu's span is in trace %s, the legacy caller's in %s", got, wantTrace)
	}
	if got, want := server.Parent().SpanID().String(), fmt.Sprintf("%016s", legacySC.SpanID().String()); got != want || !server.Parent().IsRemote() {
		t.Fatalf("Tianshu's server span has parent %s (remote %v), want the legacy span %s", got, server.Parent().IsRemote(), want)
	}
	if !server.SpanContext().IsSampled() {
		t.Fatal("Tianshu did not follow the legacy caller's sampling decision")
	}

	spans := downstreamRep.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("the downstream legacy service finished %d spans, want 1", len(spans))
	}
	down := spans[0].(*jaegerclient.Span).SpanContext()
	if got := fmt.Sprintf("%032s", down.TraceID().String()); got != wantTrace {
		t.Fatalf("the downstream legacy span is in trace %s, want %s", got, wantTrace)
	}
	if got, want := fmt.Sprintf("%016s", down.ParentID().String()), client.SpanContext().SpanID().String(); got != want {
		t.Fatalf("the downstream legacy span's parent is %s, want Tianshu's client span %s", got, want)
	}
}
