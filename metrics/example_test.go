package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	"go.opentelemetry.io/otel/metric"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/metrics"
)

func ExampleNewPrometheus() {
	prom, err := metrics.NewPrometheus(metrics.WithoutRuntimeMetrics())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer prom.Shutdown(context.Background())
	calls, _ := prom.MeterProvider().Meter("example").Int64Counter("orders.placed", metric.WithUnit("{order}"))
	calls.Add(context.Background(), 3)

	rec := httptest.NewRecorder()
	prom.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "orders_placed_total{") {
			fmt.Println(line[strings.LastIndex(line, " ")+1:])
		}
	}
	// Output: 3
}

func ExampleObserveBreakers() {
	prom, err := metrics.NewPrometheus()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer prom.Shutdown(context.Background())
	g, err := breaker.NewGroup(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	reg, err := metrics.ObserveBreakers(prom.MeterProvider(), g)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Unregister()
	// Scrapes of prom.Handler() now include tianshu_breaker_state{breaker=...,state=...}.
}
