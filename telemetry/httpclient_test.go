package telemetry_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tianshu-go/tianshu/telemetry"
	"github.com/tianshu-go/tianshu/tracing"
)

// On no-op providers a request goes out as it came, and Start and End allocate nothing.
func TestHTTPClientDoesNoWorkOnNoopProviders(t *testing.T) {
	h := telemetry.NewHTTPClient(telemetry.WithTracerProvider(tracenoop.NewTracerProvider()),
		telemetry.WithMeterProvider(noop.NewMeterProvider()),
		telemetry.WithTextMapPropagator(propagation.NewCompositeTextMapPropagator()))
	req, _ := http.NewRequest(http.MethodGet, "http://orders/items", nil)
	resp := &http.Response{StatusCode: 200}
	allocs := testing.AllocsPerRun(1000, func() {
		out, r := h.Start(req, 0)
		if out != req {
			t.Fatal("Start copied the request on no-op providers")
		}
		h.End(&r, resp, nil)
	})
	if allocs != 0 {
		t.Errorf("Start and End on no-op providers allocated %.1f times per request, want 0", allocs)
	}
}

// A request under Tianshu's head sampling that is not sampled still carries its trace
// context, with the sampled flag off, and records no span.
func TestHTTPClientPropagatesAnUnsampledRequest(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp, err := tracing.NewTracerProvider(context.Background(), tracing.WithSampleRatio(0),
		tracing.WithExporter(tracetest.NewInMemoryExporter()))
	if err != nil {
		t.Fatal(err)
	}
	tp.RegisterSpanProcessor(rec)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := telemetry.NewHTTPClient(telemetry.WithTracerProvider(tp),
		telemetry.WithTextMapPropagator(propagation.TraceContext{}))
	var got string
	rt := h.RoundTripper(roundTrip(func(r *http.Request) (*http.Response, error) {
		got = r.Header.Get("traceparent")
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}))
	req, _ := http.NewRequest(http.MethodGet, "http://orders/items", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if len(got) != 55 || !strings.HasSuffix(got, "-00") {
		t.Errorf("traceparent %q, want one with the sampled flag off", got)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans recorded for an unsampled request", n)
	}
	if req.Header.Get("traceparent") != "" {
		t.Error("the caller's request was given the header")
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestHTTPClientRecordsErrorsAsTheConventionsSay(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := telemetry.NewHTTPClient(telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(noop.NewMeterProvider()),
		telemetry.WithTextMapPropagator(telemetry.Propagator()))

	for _, c := range []struct {
		method, url string
		resend      int
		resp        *http.Response
		err         error
		name        string
		want        map[attribute.Key]string
	}{
		{method: http.MethodGet, url: "http://orders/x", resp: &http.Response{StatusCode: 404}, name: "GET",
			want: map[attribute.Key]string{"error.type": "404", "http.response.status_code": "404", "server.port": "80"}},
		{method: http.MethodPut, url: "https://u:p@orders:8443/x", resend: 2, err: errors.New("refused"), name: "PUT",
			want: map[attribute.Key]string{"error.type": "*errors.errorString", "server.port": "8443",
				"url.full": "https://REDACTED:REDACTED@orders:8443/x", "http.request.resend_count": "2"}},
		{method: "PURGE", url: "http://orders/x", resp: &http.Response{StatusCode: 200}, name: "HTTP",
			want: map[attribute.Key]string{"http.request.method": "_OTHER", "http.request.method_original": "PURGE"}},
	} {
		rec.Reset()
		req, _ := http.NewRequest(c.method, c.url, nil)
		out, r := h.Start(req, c.resend)
		if out == req || out.Header.Get("traceparent") == "" || req.Header.Get("traceparent") != "" {
			t.Errorf("%s: traceparent not injected into a copy of the request", c.url)
		}
		h.End(&r, c.resp, c.err)
		spans := rec.Ended()
		if len(spans) != 1 || spans[0].Name() != c.name {
			t.Fatalf("%s %s: spans %v, want one named %s", c.method, c.url, spans, c.name)
		}
		got := map[attribute.Key]string{}
		for _, kv := range spans[0].Attributes() {
			got[kv.Key] = kv.Value.Emit()
		}
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%s %s: %s = %q, want %q", c.method, c.url, k, got[k], v)
			}
		}
		if wantErr := c.err != nil || c.resp.StatusCode >= 400; wantErr != (spans[0].Status().Code == codes.Error) {
			t.Errorf("%s %s: span status %v", c.method, c.url, spans[0].Status())
		}
	}
}

// WithFilter is given the request's host: a refused request records no span, and still
// carries the caller's trace context.
func TestHTTPClientFilterByHost(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := telemetry.NewHTTPClient(telemetry.WithTracerProvider(tp),
		telemetry.WithTextMapPropagator(propagation.TraceContext{}),
		telemetry.WithFilter(func(host string) bool { return host != "health" }))
	var got string
	rt := h.RoundTripper(roundTrip(func(r *http.Request) (*http.Response, error) {
		got = r.Header.Get("traceparent")
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
	defer parent.End()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://health/ping", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans for a filtered request, want none", n)
	}
	if want := parent.SpanContext().SpanID().String(); !strings.Contains(got, want) {
		t.Errorf("traceparent %q of a filtered request, want the caller's span %s", got, want)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://orders/items", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 1 {
		t.Errorf("%d spans for a kept request, want 1", n)
	}
}
