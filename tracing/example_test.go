package tracing_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/tracing"
)

func ExampleSetup() {
	ctx := context.Background()
	shutdown, err := tracing.Setup(ctx,
		tracing.WithServiceName("orders"), tracing.WithServiceVersion("1.4.0"),
		tracing.WithOTLP(tracing.ProtocolGRPC, "http://127.0.0.1:4317"),
		tracing.WithSampleRatio(0.01))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(ctx)
	// Handlers made now or before use the global provider and propagator.
	srv := grpc.NewServer(tracing.ServerOption())
	defer srv.Stop()
}

func ExampleSetup_badRatio() {
	_, err := tracing.Setup(context.Background(), tracing.WithSampleRatio(5))
	fmt.Println(err)
	// Output: tracing: invalid configuration: sample ratio 5 is outside [0, 1]
}

func ExamplePropagator() {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: testTraceID, SpanID: testSpanID, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	headers := propagation.MapCarrier{}
	tracing.Propagator(tracing.FormatJaeger).Inject(ctx, headers)
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		fmt.Println(k, headers[k])
	}
	// Output:
	// traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
	// uber-trace-id 4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1
}

func ExampleNewLogHandler() {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: testTraceID, SpanID: testSpanID})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{} // keep the output stable
		}
		return a
	}}
	log := slog.New(tracing.NewLogHandler(slog.NewJSONHandler(os.Stdout, opts)))
	log.InfoContext(ctx, "order placed", "order", 42)
	// Output:
	// {"level":"INFO","msg":"order placed","order":42,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}
}
