package tracing_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tianshu-go/tianshu/tracing"
)

func TestBadOptionsAreRefusedWithErrInvalidConfig(t *testing.T) {
	cases := []struct {
		name string
		opts []tracing.Option
	}{
		{"a ratio above one", []tracing.Option{tracing.WithSampleRatio(1.5)}},
		{"a negative ratio", []tracing.Option{tracing.WithSampleRatio(-0.1)}},
		{"a NaN ratio", []tracing.Option{tracing.WithSampleRatio(math.NaN())}},
		{"an endpoint without a scheme", []tracing.Option{tracing.WithOTLP(tracing.ProtocolGRPC, "127.0.0.1:4317")}},
		{"an endpoint with another scheme", []tracing.Option{tracing.WithOTLP(tracing.ProtocolHTTP, "ftp://127.0.0.1:4318")}},
		{"an unknown protocol", []tracing.Option{tracing.WithOTLP("thrift", "http://127.0.0.1:14268")}},
		{"two exporters", []tracing.Option{tracing.WithOTLP(tracing.ProtocolGRPC, "http://127.0.0.1:4317"),
			tracing.WithExporter(tracetest.NewInMemoryExporter())}},
		{"a zero export timeout", []tracing.Option{tracing.WithExportTimeout(0)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := tracing.NewTracerProvider(context.Background(), c.opts...); !errors.Is(err, tracing.ErrInvalidConfig) {
				t.Fatalf("NewTracerProvider = %v, want ErrInvalidConfig", err)
			}
			if _, err := tracing.Setup(context.Background(), c.opts...); !errors.Is(err, tracing.ErrInvalidConfig) {
				t.Fatalf("Setup = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestConfigRejectsAnUnknownFormat(t *testing.T) {
	err := tracing.Config{SampleRatio: 0.1, Propagate: []string{"jaeger", "zipkin-v1"}}.Validate()
	if !errors.Is(err, tracing.ErrInvalidConfig) {
		t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
	}
	if err := (tracing.Config{Endpoint: "http://127.0.0.1:4318", Protocol: "HTTP", SampleRatio: 1, Propagate: []string{"B3"}}).Validate(); err != nil {
		t.Fatalf("a good config failed: %v", err)
	}
}

func TestSetupInstallsGlobalsAndShutdownFlushesTheBatch(t *testing.T) {
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	exp := &keepExporter{}
	shutdown, err := tracing.Setup(context.Background(), tracing.WithServiceName("orders"),
		tracing.WithServiceVersion("1.2.3"), tracing.WithInstanceID("orders-1"),
		tracing.WithResourceAttributes(attribute.String("deployment.environment.name", "test")),
		tracing.WithExporter(exp), tracing.WithSampleRatio(1))
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(context.Background(), "work")
	span.End()
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(trace.ContextWithSpan(context.Background(), span), carrier)
	if carrier["traceparent"] == "" {
		t.Fatal("the global propagator is not Tianshu's after Setup")
	}
	if n := len(exp.spans()); n != 0 {
		t.Fatalf("the batch exported %d spans before shutdown; the test assumes it waits", n)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.spans()
	if len(spans) != 1 {
		t.Fatalf("shutdown flushed %d spans, want 1", len(spans))
	}
	res := map[string]string{}
	for _, kv := range spans[0].Resource().Attributes() {
		res[string(kv.Key)] = kv.Value.Emit()
	}
	for k, v := range map[string]string{"service.name": "orders", "service.version": "1.2.3",
		"service.instance.id": "orders-1", "deployment.environment.name": "test"} {
		if res[k] != v {
			t.Errorf("resource %s = %q, want %q", k, res[k], v)
		}
	}
}

func TestParentBasedRatioFollowsTheCaller(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp, err := tracing.NewTracerProvider(context.Background(), tracing.WithExporter(exp), tracing.WithSyncExport(),
		tracing.WithSampleRatio(0))
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background())
	sampledParent := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: testTraceID, SpanID: testSpanID, TraceFlags: trace.FlagsSampled}))
	_, joined := tp.Tracer("t").Start(sampledParent, "joined")
	_, fresh := tp.Tracer("t").Start(context.Background(), "fresh")
	if !joined.SpanContext().IsSampled() || fresh.SpanContext().IsSampled() {
		t.Fatalf("ratio 0: joined sampled %v (want true), new root sampled %v (want false)",
			joined.SpanContext().IsSampled(), fresh.SpanContext().IsSampled())
	}
}

// keepExporter keeps what it exported after Shutdown, unlike tracetest.InMemoryExporter.
type keepExporter struct {
	mu  sync.Mutex
	got []sdktrace.ReadOnlySpan
}

func (e *keepExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, spans...)
	return nil
}

func (*keepExporter) Shutdown(context.Context) error { return nil }

func (e *keepExporter) spans() []sdktrace.ReadOnlySpan {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}
