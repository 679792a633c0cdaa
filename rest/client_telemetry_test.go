package rest_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/telemetry"
)

func TestTraceContextArrivesAtTheServer(t *testing.T) {
	reg := memory.New()
	b := startBackend(t, "a")
	var mu sync.Mutex
	var got string
	b.setHandler(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Get("traceparent")
		mu.Unlock()
	})
	register(t, reg, b.instance("orders"))

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	tel := telemetry.NewHTTPClient(telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(mp),
		telemetry.WithTextMapPropagator(telemetry.Propagator()))
	c := newClient(t, reg, rest.WithClientTelemetry(tel))

	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://orders/items?id=7", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent.End()
	if req.Header.Get("traceparent") != "" {
		t.Error("the caller's request was changed: it carries a traceparent")
	}

	var client sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			client = s
		}
	}
	if client == nil {
		t.Fatalf("no client span among %d ended", len(rec.Ended()))
	}
	mu.Lock()
	tp2 := got
	mu.Unlock()
	sc := client.SpanContext()
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; tp2 != want {
		t.Errorf("server got traceparent %q, want %q (the client span's)", tp2, want)
	}
	if client.Name() != "GET" || client.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("client span %q with parent %v, want GET under the caller's span", client.Name(), client.Parent().SpanID())
	}
	attrs := map[attribute.Key]attribute.Value{}
	for _, kv := range client.Attributes() {
		attrs[kv.Key] = kv.Value
	}
	for k, want := range map[attribute.Key]string{
		"http.request.method": "GET", "server.address": "orders", "server.port": "80",
		"url.full": "http://orders/items?id=7", "http.response.status_code": "200", "network.peer.address": "127.0.0.1",
	} {
		if got := attrs[k].Emit(); got != want {
			t.Errorf("span attribute %s = %q, want %q", k, got, want)
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "http.client.request.duration" {
				continue
			}
			h := m.Data.(metricdata.Histogram[float64])
			for _, dp := range h.DataPoints {
				st, _ := dp.Attributes.Value("http.response.status_code")
				addr, _ := dp.Attributes.Value("server.address")
				if dp.Count == 1 && st.AsInt64() == 200 && addr.AsString() == "orders" {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("no http.client.request.duration point for orders with status 200 in %+v", rm.ScopeMetrics)
	}
}

// Instances are reached over HTTP/2: with TLS (verifying the name the instance transport
// sets) and without it (h2c, by the transport's Protocols).
func TestHTTP2OverTLSAndH2C(t *testing.T) {
	protoOf := func(t *testing.T, srv *httptest.Server) func() string {
		var mu sync.Mutex
		var proto string
		srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			proto = r.Proto
			mu.Unlock()
		})
		return func() string { mu.Lock(); defer mu.Unlock(); return proto }
	}
	endpoint := func(srv *httptest.Server, scheme string) *registry.Instance {
		addr := srv.Listener.Addr().(interface{ String() string }).String()
		ep, err := registry.ParseEndpoint(scheme + "://" + addr)
		if err != nil {
			t.Fatal(err)
		}
		return &registry.Instance{ID: scheme, Service: "orders", Endpoints: []registry.Endpoint{ep}}
	}

	t.Run("TLS", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(nil)
		proto := protoOf(t, srv)
		srv.EnableHTTP2 = true
		srv.StartTLS()
		t.Cleanup(srv.Close)
		reg := memory.New()
		register(t, reg, endpoint(srv, "https"))
		tmpl := srv.Client().Transport.(*http.Transport).Clone()
		// httptest's certificate names example.com; a service's would name the service.
		tmpl.TLSClientConfig = tmpl.TLSClientConfig.Clone()
		tmpl.TLSClientConfig.ServerName = "example.com"
		c := newClient(t, reg, rest.WithInstanceTransport(tmpl))
		if _, err := get(c, "https://orders/"); err != nil {
			t.Fatal(err)
		}
		if p := proto(); p != "HTTP/2.0" {
			t.Errorf("server saw %s, want HTTP/2.0", p)
		}
		// Without the override the certificate is checked against the service name.
		strict := srv.Client().Transport.(*http.Transport).Clone()
		c2 := newClient(t, reg, rest.WithInstanceTransport(strict), rest.WithoutRetry())
		if _, err := get(c2, "https://orders/"); err == nil || !strings.Contains(err.Error(), "orders") {
			t.Errorf("a certificate without the service's name was accepted: %v", err)
		}
	})

	t.Run("h2c", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(nil)
		proto := protoOf(t, srv)
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
		t.Cleanup(srv.Close)
		reg := memory.New()
		register(t, reg, endpoint(srv, "http"))
		tmpl := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: &tls.Config{}}
		tmpl.Protocols.SetUnencryptedHTTP2(true)
		c := newClient(t, reg, rest.WithInstanceTransport(tmpl))
		if _, err := get(c, "http://orders/"); err != nil {
			t.Fatal(err)
		}
		if p := proto(); p != "HTTP/2.0" {
			t.Errorf("server saw %s, want HTTP/2.0 (h2c)", p)
		}
	})
}
