package telemetry_test

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
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tianshu-go/tianshu/telemetry"
)

func ExamplePropagator() {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: testTraceID, SpanID: testSpanID, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	headers := propagation.MapCarrier{}
	telemetry.Propagator(telemetry.FormatJaeger).Inject(ctx, headers)
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
	log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(os.Stdout, opts)))
	log.InfoContext(ctx, "order placed", "order", 42)
	// Output:
	// {"level":"INFO","msg":"order placed","order":42,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}
}

// A plain grpc-go server and client traced and measured through the interceptors, on
// OpenTelemetry's global providers (which tracing.Setup fills in main).
func ExampleNewServerHandler() {
	sh, ch := telemetry.NewServerHandler(), telemetry.NewClientHandler()
	defer sh.Close() // releases the in-flight gauge's callback
	defer ch.Close()
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(sh.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(sh.StreamServerInterceptor()))
	defer srv.Stop()
	cc, err := grpc.NewClient("127.0.0.1:50051", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(ch.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(ch.StreamClientInterceptor()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cc.Close()
}
