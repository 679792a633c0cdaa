package telemetry_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/telemetry"
)

// The Then interceptors run next inside the call, as a chain would: next sees the call's
// span in its context, the handler or invoker runs, and next's error is the call's status.
func TestThenInterceptorsRunNextInsideTheCall(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	o := []telemetry.Option{telemetry.WithTracerProvider(tp), telemetry.WithoutActiveCalls()}
	const method = "/tianshu.test.Echo/Echo"
	notFound := status.Error(codes.NotFound, "no such echo")

	var nextSaw, ran []string
	si := telemetry.NewServerHandler(o...).UnaryServerInterceptorThen(
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if trace.SpanFromContext(ctx).IsRecording() {
				nextSaw = append(nextSaw, "server")
			}
			_, _ = h(ctx, req)
			return nil, notFound
		})
	_, err := si(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: method},
		func(context.Context, any) (any, error) { ran = append(ran, "handler"); return nil, nil })
	if err != notFound {
		t.Fatalf("server returned %v, want next's error", err)
	}
	ci := telemetry.NewClientHandler(o...).UnaryClientInterceptorThen(
		func(ctx context.Context, m string, req, reply any, cc *grpc.ClientConn, inv grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if trace.SpanFromContext(ctx).IsRecording() {
				nextSaw = append(nextSaw, "client")
			}
			_ = inv(ctx, m, req, reply, cc, opts...)
			return notFound
		})
	err = ci(context.Background(), method, nil, nil, nil,
		func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
			ran = append(ran, "invoker")
			return nil
		})
	if err != notFound {
		t.Fatalf("client returned %v, want next's error", err)
	}
	if len(nextSaw) != 2 || len(ran) != 2 {
		t.Fatalf("next saw a recording span on %v, ran %v; want both sides", nextSaw, ran)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("recorded %d spans, want 2", len(spans))
	}
	for _, s := range spans {
		found := false
		for _, a := range s.Attributes() {
			if a == attribute.String("rpc.response.status_code", "NOT_FOUND") {
				found = true
			}
		}
		if !found {
			t.Errorf("%v span lacks rpc.response.status_code NOT_FOUND: %v", s.SpanKind(), s.Attributes())
		}
	}
}

// Both interceptors measure every call while the meter records, and skip the clock only
// while it does not (see Handler.now): a no-op meter provider.
func TestInterceptorsMeasureEveryCallWhileTheMeterRecords(t *testing.T) {
	mp, reader := meterProvider(t)
	o := []telemetry.Option{telemetry.WithMeterProvider(mp), telemetry.WithoutActiveCalls()}
	si := telemetry.NewServerHandler(o...).UnaryServerInterceptor()
	ci := telemetry.NewClientHandler(o...).UnaryClientInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: "/tianshu.test.Echo/Echo"}
	invoker := func(ctx context.Context, m string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		_, err := si(ctx, nil, info, func(context.Context, any) (any, error) { return nil, nil })
		return err
	}
	const calls = 3
	for range calls {
		if err := ci(context.Background(), info.FullMethod, nil, nil, nil, invoker); err != nil {
			t.Fatal(err)
		}
	}
	counts := map[string]uint64{}
	for _, p := range points(collect(t, reader), "") {
		counts[p.metric] += p.Count
	}
	for _, name := range []string{"rpc.server.call.duration", "rpc.client.call.duration"} {
		if counts[name] != calls {
			t.Errorf("%s counted %d calls, want %d (all: %v)", name, counts[name], calls, counts)
		}
	}
}
