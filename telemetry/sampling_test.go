package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"testing"

	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/telemetry"
	"github.com/tianshu-go/tianshu/tracing"
)

// seenSpan is what a server handler found in its context.
type seenSpan struct {
	sc        trace.SpanContext
	recording bool
}

// spanServer records the span context each call's handler sees.
type spanServer struct {
	testpb.UnimplementedEchoServer
	seen chan seenSpan
}

func (s *spanServer) Echo(ctx context.Context, req *testpb.EchoRequest) (*testpb.EchoReply, error) {
	span := trace.SpanFromContext(ctx)
	s.seen <- seenSpan{sc: span.SpanContext(), recording: span.IsRecording()}
	return &testpb.EchoReply{Payload: req.Payload}, nil
}

// serveWithProvider serves spanServer behind the server interceptor on tp, with
// Tianshu's propagator, and returns a plain client and the channel of seen spans.
func serveWithProvider(t *testing.T, tp trace.TracerProvider) (testpb.EchoClient, chan seenSpan) {
	t.Helper()
	srv := &spanServer{seen: make(chan seenSpan, 1)}
	h := telemetry.NewServerHandler(telemetry.WithTracerProvider(tp), telemetry.WithTextMapPropagator(telemetry.Propagator()))
	t.Cleanup(func() { _ = h.Close() })
	return startEcho(t, srv, []grpc.ServerOption{grpc.UnaryInterceptor(h.UnaryServerInterceptor())}, nil), srv.seen
}

// A provider from NewTracerProvider lets the handlers decide for dropped calls themselves;
// they must decide exactly as the SDK does, for every kind of caller.
func TestServerSpansDecideAsTheSDKDoes(t *testing.T) {
	const parentTrace, parentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	cases := []struct {
		name    string
		headers []string
	}{
		{"no caller", nil},
		{"unsampled W3C caller", []string{"traceparent", "00-" + parentTrace + "-" + parentSpan + "-00"}},
		{"sampled W3C caller", []string{"traceparent", "00-" + parentTrace + "-" + parentSpan + "-01"}},
		{"unsampled W3C caller with tracestate", []string{"traceparent", "00-" + parentTrace + "-" + parentSpan + "-00", "tracestate", "k=v"}},
		{"unsampled caller with the random flag", []string{"traceparent", "00-" + parentTrace + "-" + parentSpan + "-02"}},
		{"future W3C version", []string{"traceparent", "01-" + parentTrace + "-" + parentSpan + "-00-extra"}},
		{"unsampled B3 caller", []string{"b3", parentTrace + "-" + parentSpan + "-0"}},
		{"unsampled Jaeger caller", []string{"uber-trace-id", parentTrace + ":" + parentSpan + ":0:0"}},
		{"malformed traceparent", []string{"traceparent", "00-" + parentTrace + "-" + parentSpan + "-0g"}},
	}
	ours, err := tracing.NewTracerProvider(context.Background(), tracing.WithSampleRatio(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ours.Shutdown(context.Background()) })
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0))))
	t.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	fast, fastSeen := serveWithProvider(t, ours)
	slow, slowSeen := serveWithProvider(t, sdk)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(context.Background(), c.headers...)
			call := func(client testpb.EchoClient, seen chan seenSpan) seenSpan {
				if _, err := client.Echo(ctx, &testpb.EchoRequest{}); err != nil {
					t.Fatal(err)
				}
				return <-seen
			}
			got, want := call(fast, fastSeen), call(slow, slowSeen)
			if !got.sc.IsValid() {
				t.Fatalf("the server span context %v is not valid", got.sc)
			}
			sameTrace := func(s seenSpan) bool { return s.sc.TraceID().String() == parentTrace }
			if sameTrace(got) != sameTrace(want) || got.sc.IsSampled() != want.sc.IsSampled() ||
				got.recording != want.recording || got.sc.TraceFlags() != want.sc.TraceFlags() ||
				got.sc.TraceState().String() != want.sc.TraceState().String() || got.sc.IsRemote() {
				t.Fatalf("handler on NewTracerProvider saw %+v (joined the caller's trace: %v), on the SDK's %+v (%v)",
					got, sameTrace(got), want, sameTrace(want))
			}
			if got.sc.SpanID().String() == parentSpan {
				t.Fatalf("the server span reuses the caller's span ID %s", parentSpan)
			}
		})
	}
}

// A root call is sampled when its trace ID falls under the ratio's bound, as the SDK's
// TraceIDRatioBased sampler decides, and the callee learns the decision.
func TestRootCallsAreSampledByTheirTraceID(t *testing.T) {
	const ratio, calls = 0.25, 4000
	rec := tracetest.NewSpanRecorder()
	tp, err := tracing.NewTracerProvider(context.Background(), tracing.WithSampleRatio(ratio))
	if err != nil {
		t.Fatal(err)
	}
	tp.RegisterSpanProcessor(rec)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := telemetry.NewClientHandler(telemetry.WithTracerProvider(tp), telemetry.WithTextMapPropagator(telemetry.Propagator()),
		telemetry.WithoutActiveCalls())
	ci := h.UnaryClientInterceptor()
	reference := sdktrace.TraceIDRatioBased(ratio)
	sampled := 0
	for range calls {
		err := ci(context.Background(), "/tianshu.test.Echo/Echo", nil, nil, nil,
			func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
				sc := trace.SpanContextFromContext(ctx)
				want := reference.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: sc.TraceID()})
				if sc.IsSampled() != (want.Decision == sdktrace.RecordAndSample) {
					t.Fatalf("trace %s: sampled %v, the SDK's ratio sampler says %v", sc.TraceID(), sc.IsSampled(), want.Decision)
				}
				md, _ := metadata.FromOutgoingContext(ctx)
				carrier := propagation.MapCarrier{}
				for k, v := range md {
					carrier[k] = v[0]
				}
				sent := trace.SpanContextFromContext(telemetry.Propagator().Extract(context.Background(), carrier))
				if sent.TraceID() != sc.TraceID() || sent.SpanID() != sc.SpanID() || sent.IsSampled() != sc.IsSampled() {
					t.Fatalf("sent %v for the call's span %v", sent, sc)
				}
				if sc.IsSampled() {
					sampled++
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	// 1,000 expected; the bounds are six standard deviations (27) away.
	if sampled < 838 || sampled > 1162 {
		t.Fatalf("%d of %d calls sampled at ratio %v", sampled, calls, ratio)
	}
	if n := len(rec.Ended()); n != sampled {
		t.Fatalf("%d spans recorded for %d sampled calls", n, sampled)
	}
	for _, s := range rec.Ended() {
		if !s.SpanContext().IsSampled() {
			t.Fatalf("recorded span %v is not sampled", s.SpanContext())
		}
	}
}

// The IDs a handler draws for a sampled call go to that call's span only: spans the
// application starts under it get their own.
func TestSpansUnderASampledCallGetTheirOwnIDs(t *testing.T) {
	tp, err := tracing.NewTracerProvider(context.Background(), tracing.WithSampleRatio(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := telemetry.NewClientHandler(telemetry.WithTracerProvider(tp), telemetry.WithTextMapPropagator(telemetry.Propagator()),
		telemetry.WithoutActiveCalls())
	err = h.UnaryClientInterceptor()(context.Background(), "/tianshu.test.Echo/Echo", nil, nil, nil,
		func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
			call := trace.SpanFromContext(ctx)
			if !call.IsRecording() {
				t.Fatal("the call's span is not recording at ratio 1")
			}
			_, child := tp.Tracer("app").Start(ctx, "child")
			defer child.End()
			_, sibling := tp.Tracer("app").Start(ctx, "sibling")
			defer sibling.End()
			ids := map[trace.SpanID]bool{call.SpanContext().SpanID(): true}
			for _, s := range []trace.Span{child, sibling} {
				if s.SpanContext().TraceID() != call.SpanContext().TraceID() || ids[s.SpanContext().SpanID()] {
					t.Fatalf("span %v under the call's %v: same trace, new span ID wanted", s.SpanContext(), call.SpanContext())
				}
				ids[s.SpanContext().SpanID()] = true
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

// A dropped call still has IDs for the logs, and a handler made on the global provider
// before Setup takes the fast path after it.
func TestDroppedCallsLogTheirTraceIDs(t *testing.T) {
	h := telemetry.NewClientHandler(telemetry.WithoutActiveCalls()) // before Setup: global provider
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	shutdown, err := tracing.Setup(context.Background(), tracing.WithSampleRatio(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = shutdown(context.Background())
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
	})
	var buf bytes.Buffer
	log := telemetry.NewJSONLogger(&buf, slog.LevelInfo)
	err = h.UnaryClientInterceptor()(context.Background(), "/tianshu.test.Echo/Echo", nil, nil, nil,
		func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
			span := trace.SpanFromContext(ctx)
			if span.IsRecording() || !span.SpanContext().IsValid() {
				t.Fatalf("span %v recording %v: want a valid, dropped span", span.SpanContext(), span.IsRecording())
			}
			if _, ok := span.TracerProvider().(*tracing.TracerProvider); !ok {
				t.Fatalf("the dropped span came from %T, not the handler's own decision", span.TracerProvider())
			}
			log.InfoContext(ctx, "calling")
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			if rec[telemetry.TraceIDKey] != span.SpanContext().TraceID().String() ||
				rec[telemetry.SpanIDKey] != span.SpanContext().SpanID().String() {
				t.Fatalf("logged %s for span %v", buf.String(), span.SpanContext())
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

// ownProvider is an SDK provider an application built itself and made a
// HeadSampledProvider, as the HeadSampler documentation describes.
type ownProvider struct {
	*sdktrace.TracerProvider
	head *telemetry.HeadSampler
}

func (p *ownProvider) HeadSampler() *telemetry.HeadSampler { return p.head }

// A handler given a HeadSampledProvider explicitly (not through the globals) drops calls
// itself too, whoever built the provider.
func TestAnExplicitHeadSampledProviderTakesTheFastPath(t *testing.T) {
	p := &ownProvider{TracerProvider: sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0))),
		sdktrace.WithIDGenerator(telemetry.IDGenerator{}))}
	p.head = telemetry.NewHeadSampler(0, p)
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	h := telemetry.NewClientHandler(telemetry.WithTracerProvider(p), telemetry.WithoutActiveCalls())
	err := h.UnaryClientInterceptor()(context.Background(), "/tianshu.test.Echo/Echo", nil, nil, nil,
		func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
			span := trace.SpanFromContext(ctx)
			if span.IsRecording() || !span.SpanContext().IsValid() {
				t.Fatalf("span %v recording %v: want a valid, dropped span", span.SpanContext(), span.IsRecording())
			}
			if span.TracerProvider() != trace.TracerProvider(p) {
				t.Fatalf("the dropped span came from %T, not the handler's own decision", span.TracerProvider())
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

// A handler made on the global propagator before anything set it propagates nothing, then
// follows each propagator set later, not only the first.
func TestAHandlerOnTheGlobalPropagatorFollowsEverySet(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	h := telemetry.NewClientHandler(telemetry.WithoutActiveCalls(),
		telemetry.WithTracerProvider(sdktrace.NewTracerProvider()))
	sent := func() metadata.MD {
		var md metadata.MD
		err := h.UnaryClientInterceptor()(context.Background(), "/tianshu.test.Echo/Echo", nil, nil, nil,
			func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
				md, _ = metadata.FromOutgoingContext(ctx)
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		return md
	}
	if md := sent(); len(md) != 0 && len(prev.Fields()) == 0 {
		t.Fatalf("sent %v before any propagator was set", md)
	}
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if md := sent(); len(md["traceparent"]) != 1 || len(md["baggage"]) != 0 {
		t.Fatalf("sent %v with W3C trace context set, want traceparent only", md)
	}
	otel.SetTextMapPropagator(b3.New())
	if md := sent(); len(md["traceparent"]) != 0 || len(md["b3"]) != 1 {
		t.Fatalf("sent %v with B3 set after W3C, want B3 only", slices.Collect(maps.Keys(md)))
	}
}
