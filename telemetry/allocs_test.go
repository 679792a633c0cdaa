package telemetry_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tianshu-go/tianshu/telemetry"
	"github.com/tianshu-go/tianshu/tracing"
)

// A server call that is not sampled allocates its own state and nothing else: the request's
// headers are read where grpc-go keeps them, not copied out header by header.
// That holds for a handler given its providers and for one on the globals, as tracing.Setup
// leaves them.
func TestUnsampledServerCallAllocatesOnlyItsState(t *testing.T) {
	tp, err := tracing.NewTracerProvider(context.Background(), tracing.WithSampleRatio(0),
		tracing.WithExporter(tracetest.NewNoopExporter()), tracing.WithServiceName("allocs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	t.Run("given", func(t *testing.T) {
		serverCallAllocs(t, telemetry.NewServerHandler(telemetry.WithTracerProvider(tp),
			telemetry.WithMeterProvider(noop.NewMeterProvider()), telemetry.WithTextMapPropagator(telemetry.Propagator()),
			telemetry.WithoutActiveCalls()))
	})
	t.Run("global", func(t *testing.T) {
		prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(telemetry.Propagator())
		t.Cleanup(func() {
			otel.SetTracerProvider(prevTP)
			otel.SetTextMapPropagator(prevProp)
		})
		serverCallAllocs(t, telemetry.NewServerHandler(telemetry.WithMeterProvider(noop.NewMeterProvider()),
			telemetry.WithoutActiveCalls()))
	})
}

func serverCallAllocs(t *testing.T, h *telemetry.Handler) {
	si := h.UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/tianshu.test.Echo/Echo"}
	// What grpc-go's transport hands a server: lower-case names, pseudo-headers included.
	ctx := metadata.NewIncomingContext(context.Background(), metadata.MD{
		":authority": {"echo"}, "content-type": {"application/grpc"}, "user-agent": {"grpc-go/1.85.0"},
		"te": {"trailers"}, "traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
	})
	handler := func(context.Context, any) (any, error) { return nil, nil }
	if _, err := si(ctx, nil, info, handler); err != nil { // builds the method's state
		t.Fatal(err)
	}
	got := testing.AllocsPerRun(1000, func() {
		if _, err := si(ctx, nil, info, handler); err != nil {
			t.Fatal(err)
		}
	})
	if got > 1 {
		t.Errorf("an unsampled server call allocated %.1f times, want 1 (the call's state)", got)
	}
}
