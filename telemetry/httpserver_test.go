package telemetry_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tianshu-go/tianshu/telemetry"
)

func TestHTTPServerNamesSpansAndMetricsAfterTheRoute(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	mp, reader := meterProvider(t)
	h := telemetry.NewHTTPServer(telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(mp),
		telemetry.WithFilter(func(pattern string) bool { return pattern != "GET /skip" }))

	for _, tc := range []struct {
		name, method, target, pattern string
		tls                           bool
		status                        int
		span, route, scheme           string
		failed                        bool
	}{
		{"a method pattern", "GET", "/items/1", "GET /items/{id}", false, 200, "GET /items/{id}", "/items/{id}", "http", false},
		{"a pattern without a method", "POST", "/items/", "/items/", false, 201, "POST /items/", "/items/", "http", false},
		{"a pattern with a host", "GET", "/a", "example.com/a", true, 200, "GET /a", "/a", "https", false},
		{"no pattern", "GET", "/nowhere", "", false, 404, "GET", "", "http", false},
		{"an unknown method", "BREW", "/pot", "", false, 405, "HTTP", "", "http", false},
		{"a server error", "GET", "/items/2", "GET /items/{id}", false, 503, "GET /items/{id}", "/items/{id}", "http", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans.Reset()
			r := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			ctx, rec := h.Start(r, tc.pattern)
			h.End(ctx, rec, tc.status)
			ended := spans.Ended()
			if len(ended) != 1 {
				t.Fatalf("%d spans, want 1", len(ended))
			}
			s := ended[0]
			attrs := attribute.NewSet(s.Attributes()...)
			route, _ := attrs.Value("http.route")
			scheme, _ := attrs.Value("url.scheme")
			code, _ := attrs.Value("http.response.status_code")
			if s.Name() != tc.span || route.AsString() != tc.route || scheme.AsString() != tc.scheme || code.AsInt64() != int64(tc.status) {
				t.Fatalf("span %q route %q scheme %q status %d, want %q %q %q %d",
					s.Name(), route.AsString(), scheme.AsString(), code.AsInt64(), tc.span, tc.route, tc.scheme, tc.status)
			}
			if failed := s.Status().Code == otelcodes.Error; failed != tc.failed {
				t.Fatalf("span failed = %v, want %v", failed, tc.failed)
			}
		})
	}

	t.Run("a filtered route records nothing", func(t *testing.T) {
		spans.Reset()
		r := httptest.NewRequest(http.MethodGet, "/skip", nil)
		ctx, rec := h.Start(r, "GET /skip")
		h.End(ctx, rec, 200)
		if n := len(spans.Ended()); n != 0 {
			t.Fatalf("%d spans for a filtered route", n)
		}
	})

	counts := map[string]uint64{}
	for _, p := range points(collect(t, reader), "http.server.request.duration") {
		key := p.attr("http.request.method") + " " + p.attr("http.route") + " " +
			p.attr("http.response.status_code") + " " + p.attr("error.type")
		counts[key] += p.Count
	}
	for key, want := range map[string]uint64{
		"GET /items/{id} 200 ": 1, "POST /items/ 201 ": 1, "GET /a 200 ": 1, "GET  404 ": 1,
		"_OTHER  405 ": 1, "GET /items/{id} 503 503": 1,
	} {
		if counts[key] != want {
			t.Errorf("points %q = %d, want %d (all: %v)", key, counts[key], want, counts)
		}
	}
	if len(counts) != 6 {
		t.Errorf("%d metric points, want 6 (the filtered route has none): %v", len(counts), counts)
	}
}
