package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/telemetry"
)

func TestTelemetryJoinsTheCallersTrace(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	prop := telemetry.WithTextMapPropagator(propagation.TraceContext{})
	opts := []telemetry.Option{telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(mp), prop}

	up := startEcho(t, "up")
	c, err := gateway.Parse([]byte(fmt.Sprintf(`
gateway:
  routes:
    - name: item
      match: {path: {template: "/items/{id}"}}
      target: {urls: [%q]}
`, up.srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.WithTelemetry(telemetry.NewHTTPServer(opts...), telemetry.NewHTTPClient(opts...)), gateway.WithDrain(0))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(c); err != nil {
		t.Fatal(err)
	}
	base := startGateway(t, g)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	got := do(t, nil, "GET", base+"/items/7", map[string]string{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"}, "")
	if got.status != 200 {
		t.Fatalf("%d %s", got.status, got.body)
	}
	if tp := got.seen.Header.Get("Traceparent"); !strings.Contains(tp, traceID) {
		t.Errorf("the upstream got traceparent %q, want the caller's trace %s", tp, traceID)
	}
	var server, client trace.SpanContext
	for _, s := range spans.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindServer:
			if s.Name() != "GET /items/{id}" {
				t.Errorf("server span %q, want GET /items/{id}", s.Name())
			}
			server = s.SpanContext()
		case trace.SpanKindClient:
			client = s.Parent()
		}
		if s.SpanContext().TraceID().String() != traceID {
			t.Errorf("span %q in trace %s, want the caller's %s", s.Name(), s.SpanContext().TraceID(), traceID)
		}
	}
	if !server.IsValid() || client.SpanID() != server.SpanID() {
		t.Errorf("the upstream attempt's span is not a child of the gateway's server span (%v, %v)", server, client)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				for _, dp := range h.DataPoints {
					if v, ok := dp.Attributes.Value(attribute.Key("http.route")); ok {
						routes[m.Name+" "+v.AsString()] = true
					}
				}
			}
		}
	}
	if !routes["http.server.request.duration /items/{id}"] {
		t.Errorf("no duration recorded for the route: %v", routes)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestAccessLogSamplesAndAlwaysLogsErrors(t *testing.T) {
	up := startEcho(t, "up")
	doc := fmt.Sprintf(`
gateway:
  routes:
    - name: ok
      match: {path: {prefix: /ok}}
      target: {urls: [%q]}
    - name: down
      match: {path: {prefix: /down}}
      target: {urls: ["http://127.0.0.1:1"]}
`, up.srv.URL)
	for _, tc := range []struct {
		sample float64
		want   int // records of ok
	}{{1, 20}, {0, 0}} {
		var buf syncBuffer
		_, base := newGateway(t, doc, gateway.WithAccessLog(slog.New(slog.NewJSONHandler(&buf, nil)), tc.sample), gateway.WithLogger(quiet()))
		for i := 0; i < 20; i++ {
			do(t, nil, "GET", base+"/ok", nil, "")
		}
		do(t, nil, "GET", base+"/down", nil, "")
		okRecords, downRecords := 0, 0
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("not a JSON record: %q", line)
			}
			switch rec["route"] {
			case "ok":
				okRecords++
				if rec["status"] != float64(200) || rec["path"] != "/ok" || rec["method"] != "GET" {
					t.Errorf("record %v", rec)
				}
			case "down":
				downRecords++
				if err, _ := rec["err"].(string); !strings.Contains(err, "connection refused") {
					t.Errorf("the record of a failed upstream does not say why: %v", rec)
				}
			}
		}
		if okRecords != tc.want || downRecords != 1 {
			t.Errorf("sample %v: %d records of ok (want %d), %d of down (want 1, errors always)", tc.sample, okRecords, tc.want, downRecords)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}
