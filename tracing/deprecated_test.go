package tracing_test

import (
	"context"
	"net"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/telemetry"
	"github.com/tianshu-go/tianshu/tracing"
)

// Code written against the names that moved to telemetry keeps compiling and tracing for a
// release: the old names are aliases, so their values mix with the new ones (an old option
// passed to rpc.WithTelemetry, say).
func TestDeprecatedNamesStillTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var opts []tracing.HandlerOption = []telemetry.Option{
		tracing.WithTracerProvider(tp), tracing.WithTextMapPropagator(tracing.Propagator(tracing.FormatB3)),
	}
	_ = rpc.WithTelemetry(opts...)
	var h *telemetry.Handler = tracing.NewServerHandler(opts...)
	t.Cleanup(func() { _ = h.Close() })

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(tracing.ServerOption(opts...))
	testpb.RegisterEchoServer(srv, &echoServer{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		tracing.DialOption(opts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	if _, err := testpb.NewEchoClient(cc).Echo(context.Background(), &testpb.EchoRequest{Payload: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.Ended()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].SpanContext().TraceID() != spans[1].SpanContext().TraceID() {
		t.Fatalf("want a client and a server span of one trace, got %d spans", len(spans))
	}
	for _, s := range spans {
		if got := s.InstrumentationScope().Name; got != tracing.ScopeName {
			t.Errorf("span %q has scope %q, want %q", s.Name(), got, tracing.ScopeName)
		}
	}
}

// The instrumentation scope is on the wire (Prometheus' otel_scope_name, the library name
// in span backends), so it keeps the name it had before the handlers moved.
func TestScopeNameIsUnchangedByTheMove(t *testing.T) {
	if want := "github.com/tianshu-go/tianshu/tracing"; telemetry.ScopeName != want {
		t.Fatalf("telemetry.ScopeName = %q, want %q: dashboards filter on it", telemetry.ScopeName, want)
	}
}
