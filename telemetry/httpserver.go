package telemetry

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/tianshu-go/tianshu/internal/callhist"
)

// HTTPServer records, for every request an HTTP server answers, a server span and the
// http.server.request.duration histogram of OpenTelemetry's HTTP semantic conventions: the
// span is named "<method> <route>" ("GET /orders/{id}") after the http.ServeMux pattern that
// matched, or "<method>" alone when none did, and takes the caller's span context from the
// request headers through the same propagator as the gRPC handlers (by default the global
// one, which Setup makes Propagator()).
//
// It does not wrap the handler or the ResponseWriter itself: the server that owns both (the
// rest package's) calls Start before its middleware and End after, with the status it saw,
// so that a request costs one wrapper, the server's. Attribute sets are built once per
// method, route, scheme, protocol and status and reused; an unsampled or untraced request
// builds no attributes, and a meter that records nothing (the global one before Setup) is
// not given a clock reading.
type HTTPServer struct {
	providers
	filter    func(string) bool
	dur       *durations
	startOpts []trace.SpanStartOption

	mu     sync.Mutex
	routes atomic.Pointer[map[routeKey]*httpRoute]
}

// routeKey is what a request's metric attributes depend on, apart from its status.
type routeKey struct {
	method  string // normalized: a known method or "_OTHER"
	pattern string
	tls     bool
	proto   int // ProtoMajor
}

// httpRoute holds what is built once per routeKey.
type httpRoute struct {
	name     string // span name
	base     []attribute.KeyValue
	statusMu sync.Mutex
	status   atomic.Pointer[map[int]series]
}

// NewHTTPServer returns the recorder of an HTTP server. Of the options, WithFilter is given
// the ServeMux pattern ("GET /orders/{id}", "" when none matched) instead of a gRPC method,
// and WithoutActiveCalls is implied: there is no in-flight gauge, so there is nothing to
// Close.
func NewHTTPServer(opts ...Option) *HTTPServer {
	c := config{}
	for _, o := range opts {
		o(&c)
	}
	h := &HTTPServer{filter: c.filter}
	h.init(&c)
	h.startOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	var d httpconv.ServerRequestDuration
	h.dur = newDurations(c.mp, callhist.Desc{Name: d.Name(), Unit: d.Unit(), Description: d.Description()},
		func(m metric.Meter, o metric.HistogramOption) (metric.Float64Histogram, error) {
			d, err := httpconv.NewServerRequestDuration(m, o)
			return d.Inst(), err
		})
	return h
}

// HTTPRecord is one request in progress, from Start to End. Its zero value records nothing.
type HTTPRecord struct {
	span  trace.Span // nil: no tracer
	route *httpRoute // nil: filtered out
	start mark       // noMark: not measured
}

// Start begins recording r, which pattern (the http.ServeMux pattern that matches r, from
// ServeMux.Handler; "" when none does) routes. It returns the context the handler must
// run with, carrying the caller's span context and the server span, and the record to give
// End when the response has been written.
func (h *HTTPServer) Start(r *http.Request, pattern string) (context.Context, HTTPRecord) {
	ctx := r.Context()
	rec := HTTPRecord{start: noMark}
	carrier := headerCarrier(r.Header)
	head, off := h.head()
	prop, mf := h.propagator()
	var parent trace.SpanContext
	quick := false
	if mf != nil && head != nil {
		ctx, parent, quick = mf.quickExtract(ctx, carrier)
		if quick && !parent.IsValid() {
			parent = trace.SpanContextFromContext(ctx)
		}
	}
	if !quick {
		if prop != nil {
			ctx = prop.Extract(ctx, carrier)
		}
		parent = trace.SpanContextFromContext(ctx)
	}
	setParent := parent.IsValid() && (!parent.IsRemote() || quick)
	if h.filter != nil && !h.filter(pattern) {
		if setParent {
			ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
		}
		return ctx, rec
	}
	if h.dur.on(ctx) {
		rec.start = mark(time.Since(origin))
	}
	rec.route = h.route(r, pattern)
	if off {
		// No span to start: the caller's context alone goes on to the calls the handler
		// makes, as a no-op tracer's span would carry it, without the allocations.
		if setParent {
			ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
		}
		return ctx, rec
	}
	if head != nil {
		d := head.decide(parent)
		if !d.sampled {
			rec.span = &droppedSpan{sc: d.sc, tp: head.tp}
			return trace.ContextWithSpan(ctx, rec.span), rec
		}
		ctx = d.withIDs(ctx)
	}
	if setParent {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	ctx, rec.span = h.tracer.Start(ctx, rec.route.name, h.startOpts...)
	if rec.span.IsRecording() {
		rec.span.SetAttributes(rec.route.base...)
		rec.span.SetAttributes(semconv.URLPath(r.URL.Path))
		if ua := r.UserAgent(); ua != "" {
			rec.span.SetAttributes(semconv.UserAgentOriginal(ua))
		}
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			rec.span.SetAttributes(semconv.ClientAddress(host))
		}
	}
	return ctx, rec
}

// End finishes the record Start returned, for a response with the given HTTP status (200
// when the handler wrote nothing). A status of 500 or more marks the span as failed: a 4xx
// is the caller's error, not the server's.
func (h *HTTPServer) End(ctx context.Context, rec HTTPRecord, status int) {
	if rec.route == nil {
		return
	}
	if rec.span != nil && rec.span.IsRecording() {
		rec.span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			rec.span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
			rec.span.SetStatus(otelcodes.Error, "")
		}
		rec.span.End()
	}
	if rec.start == noMark {
		return
	}
	var sc trace.SpanContext
	if rec.span != nil {
		sc = rec.span.SpanContext()
	}
	secs := float64(time.Since(origin)-time.Duration(rec.start)) / 1e9
	h.dur.record(ctx, rec.route.statusSeries(h.dur, status), secs, sc)
}

// route returns the prebuilt state of r's method, pattern, scheme and protocol.
func (h *HTTPServer) route(r *http.Request, pattern string) *httpRoute {
	method, _ := knownMethod(r.Method)
	k := routeKey{method: method, pattern: pattern, tls: r.TLS != nil, proto: r.ProtoMajor}
	if mp := h.routes.Load(); mp != nil {
		if rt, ok := (*mp)[k]; ok {
			return rt
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.routes.Load()
	if old != nil {
		if rt, ok := (*old)[k]; ok {
			return rt
		}
	}
	rt := newHTTPRoute(k, r.ProtoMinor)
	// Patterns come from the server's own mux and methods are normalized, so the table is
	// bounded by the routes; the bound guards a mux that grows without end.
	if old == nil || len(*old) < maxMethods {
		h.routes.Store(withEntry(old, k, rt))
	}
	return rt
}

func newHTTPRoute(k routeKey, protoMinor int) *httpRoute {
	rt := &httpRoute{name: k.method}
	if k.method == "_OTHER" {
		rt.name = "HTTP" // the conventions' span name for a method they do not know
	}
	scheme := "http"
	if k.tls {
		scheme = "https"
	}
	version := strconv.Itoa(k.proto)
	if k.proto == 1 {
		version += "." + strconv.Itoa(protoMinor)
	}
	rt.base = []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(k.method),
		semconv.URLScheme(scheme),
		semconv.NetworkProtocolVersion(version),
	}
	if route := patternRoute(k.pattern); route != "" {
		rt.name += " " + route
		rt.base = append(rt.base, semconv.HTTPRoute(route))
	}
	return rt
}

// statusSeries returns how a response with status on this route is recorded.
func (rt *httpRoute) statusSeries(d *durations, status int) series {
	if mp := rt.status.Load(); mp != nil {
		if o, ok := (*mp)[status]; ok {
			return o
		}
	}
	attrs := make([]attribute.KeyValue, 0, len(rt.base)+2)
	attrs = append(append(attrs, rt.base...), semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(status)))
	}
	o := d.series(attribute.NewSet(attrs...))
	if status < 100 || status > 999 {
		return o // not a status a well-behaved handler writes: not worth a slot
	}
	rt.statusMu.Lock()
	defer rt.statusMu.Unlock()
	old := rt.status.Load()
	if old != nil {
		if o2, ok := (*old)[status]; ok {
			return o2
		}
	}
	rt.status.Store(withEntry(old, status, o))
	return o
}

// patternRoute returns the path of a ServeMux pattern "[METHOD ][HOST]/PATH", which is
// what http.route holds.
func patternRoute(p string) string {
	if i := strings.IndexAny(p, " \t"); i >= 0 {
		p = strings.TrimLeft(p[i:], " \t")
	}
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[i:]
	}
	return ""
}

// headerCarrier reads a request's headers for the propagator. http.Header.Get canonicalizes
// its key, which allocates a string for each name net/http does not know: the propagators
// ask for lower-case names, up to eight a request, so the ones Tianshu's propagator reads
// are mapped to their canonical form here.
type headerCarrier http.Header

func (c headerCarrier) Get(key string) string {
	var canon string
	switch key {
	case headerTraceparent:
		canon = "Traceparent"
	case headerTracestate:
		canon = "Tracestate"
	case headerBaggage:
		canon = "Baggage"
	case headerB3:
		canon = "B3"
	case headerB3TraceID:
		canon = "X-B3-Traceid"
	case headerB3SpanID:
		canon = "X-B3-Spanid"
	case headerB3Sampled:
		canon = "X-B3-Sampled"
	case headerUberTraceID:
		canon = "Uber-Trace-Id"
	default:
		return http.Header(c).Get(key)
	}
	if vs := c[canon]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Set is not used on request headers.
func (headerCarrier) Set(string, string) {}

// Keys returns the header names.
func (c headerCarrier) Keys() []string { return propagation.HeaderCarrier(c).Keys() }
