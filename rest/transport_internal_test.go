package rest

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/telemetry"
)

// cannedTransport answers every request at once with the same bodiless response.
type cannedTransport struct{ resp *http.Response }

func (c cannedTransport) RoundTrip(*http.Request) (*http.Response, error) { return c.resp, nil }

// BenchmarkTransportOwnWork measures what the Transport does per request besides the
// network: resolving the host to its service, reading the snapshot, the breaker, the pick
// (P2C with its clock reading), the instance's figures, the retry budget and the telemetry
// on no-op providers. Each instance's transport is replaced by one that answers at once.
func BenchmarkTransportOwnWork(b *testing.B) {
	for _, name := range []string{"serial", "parallel"} {
		b.Run(name, func(b *testing.B) {
			reg := memory.New()
			for i, port := range []int{8001, 8002, 8003} {
				in := &registry.Instance{ID: string(rune('a' + i)), Service: "orders",
					Endpoints: []registry.Endpoint{{Scheme: "http", Host: "127.0.0.1", Port: port}}}
				if err := reg.Register(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
			tel := telemetry.NewHTTPClient(telemetry.WithTracerProvider(tracenoop.NewTracerProvider()),
				telemetry.WithMeterProvider(noop.NewMeterProvider()),
				telemetry.WithTextMapPropagator(propagation.NewCompositeTextMapPropagator()))
			t, err := NewTransport(reg, WithClientTelemetry(tel))
			if err != nil {
				b.Fatal(err)
			}
			defer t.Close()
			req, _ := http.NewRequest(http.MethodGet, "http://orders/items", nil)
			canned := cannedTransport{&http.Response{StatusCode: http.StatusOK, Body: http.NoBody}}
			// Start the watch and wait for the instances, as a first request would.
			s, err := t.lookup(req.URL)
			if err != nil || s == nil {
				b.Fatalf("lookup: %v, %v", s, err)
			}
			if _, err := s.wait(context.Background()); err != nil {
				b.Fatal(err)
			}
			for _, s := range *t.services.Load() {
				for _, rt := range s.state.Load().routes {
					if rt != nil {
						for _, in := range rt.insts {
							in.send = canned
						}
					}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			if name == "serial" {
				for b.Loop() {
					if _, err := t.RoundTrip(req); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := t.RoundTrip(req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
