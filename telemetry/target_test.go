package telemetry_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/telemetry"
)

// One method called through channels to two targets, alternately, is measured against each
// target: the method keeps the last target's attributes at hand, and must not hand them to
// a call through the other channel.
func TestACallIsMeasuredAgainstItsOwnChannelsTarget(t *testing.T) {
	mp, reader := meterProvider(t)
	h := telemetry.NewClientHandler(telemetry.WithMeterProvider(mp), telemetry.WithTracerProvider(noop.NewTracerProvider()),
		telemetry.WithTextMapPropagator(telemetry.Propagator()), telemetry.WithoutActiveCalls())
	t.Cleanup(func() { _ = h.Close() })
	ci := h.UnaryClientInterceptor()
	orders, payments := dialConn(t, "passthrough:///orders.internal:8001"), dialConn(t, "passthrough:///payments.internal:8002")
	done := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	for _, cc := range []*grpc.ClientConn{orders, payments, payments, orders, payments} {
		if err := ci(context.Background(), "/shop.v1.Orders/Get", nil, nil, cc, done); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]uint64{}
	for _, p := range points(collect(t, reader), "") {
		got[p.attr("server.address")] += p.Count
	}
	if got["orders.internal"] != 2 || got["payments.internal"] != 3 || len(got) != 2 {
		t.Errorf("calls by server.address %v, want orders.internal 2 and payments.internal 3", got)
	}
}
