package rest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tianshu-go/tianshu/internal/pairbench"
	"github.com/tianshu-go/tianshu/metrics"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/telemetry"
	"github.com/tianshu-go/tianshu/tracing"
)

// BenchmarkClientVsPlainTransport compares the discovery-aware client with a plain
// http.Transport calling the same loopback server at its fixed address, both keeping
// connections alive with the same pool size, in paired rounds (internal/pairbench): x-plain
// is the client's throughput over the plain transport's. The client resolves the service
// from a registry, picks with P2C, asks the breaker, draws on the retry budget and runs its
// telemetry on no-op providers (telemetry=noop), or, as the gRPC stack's "full" set-up
// does, traces 1% of requests through Tianshu's provider and records durations into a
// Prometheus provider (telemetry=traced-1pct-metrics).
func BenchmarkClientVsPlainTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	reg := memory.New()
	be := &backend{id: "bench", srv: srv}
	if err := reg.Register(context.Background(), be.instance("bench")); err != nil {
		b.Fatal(err)
	}
	plain := http.DefaultTransport.(*http.Transport).Clone()
	plain.MaxIdleConnsPerHost = 100
	defer plain.CloseIdleConnections()
	plainClient := &http.Client{Transport: plain}
	noopTel := telemetry.NewHTTPClient(telemetry.WithTracerProvider(tracenoop.NewTracerProvider()),
		telemetry.WithMeterProvider(noop.NewMeterProvider()),
		telemetry.WithTextMapPropagator(propagation.NewCompositeTextMapPropagator()))
	tp, err := tracing.NewTracerProvider(context.Background(), tracing.WithSampleRatio(0.01),
		tracing.WithExporter(tracetest.NewNoopExporter()))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tp.Shutdown(context.Background()) }()
	prom, err := metrics.NewPrometheus(metrics.WithoutRuntimeMetrics())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = prom.Shutdown(context.Background()) }()
	fullTel := telemetry.NewHTTPClient(telemetry.WithTracerProvider(tp),
		telemetry.WithMeterProvider(prom.MeterProvider()), telemetry.WithTextMapPropagator(telemetry.Propagator()))

	call := func(hc *http.Client, url string) func() error {
		return func() error {
			resp, err := hc.Get(url)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			return err
		}
	}
	base := call(plainClient, srv.URL+"/")
	for _, tc := range []struct {
		name string
		tel  *telemetry.HTTPClient
	}{{"noop", noopTel}, {"traced-1pct-metrics", fullTel}} {
		c, err := rest.NewClient(reg, rest.WithClientTelemetry(tc.tel))
		if err != nil {
			b.Fatal(err)
		}
		subject := call(c.Client, "http://bench/")
		for _, conc := range []int{1, 64} {
			b.Run(fmt.Sprintf("telemetry=%s/concurrency=%d", tc.name, conc), func(b *testing.B) {
				pairbench.Compare(b, pairbench.Options{Concurrency: conc, Unit: "plain"}, base, subject)
			})
		}
		_ = c.Close()
	}
}
