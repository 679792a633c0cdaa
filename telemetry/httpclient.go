package telemetry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// maxHTTPTargets bounds the cache of prebuilt attributes per method, host and port; past it
// requests are still recorded, with their attributes built per request.
const maxHTTPTargets = 1024

// HTTPClient records the telemetry of OpenTelemetry's HTTP client conventions for each
// request an HTTP client sends: a client span named after the method ("GET"), with
// http.request.method, server.address, server.port, url.full, http.response.status_code
// and error.type, and the http.client.request.duration histogram in seconds. It injects the
// span context into the request's headers with the propagator, the same one the gRPC
// handlers use. Package rest's client calls it once per attempt, as the conventions ask
// (a resend gets its own span with http.request.resend_count).
//
// It costs nothing on no-op providers: with OpenTelemetry's global providers not yet set
// (or explicit no-op ones), a propagator that writes nothing and a meter that records
// nothing, Start returns at once and the request goes out as it came. Attribute sets are
// built once per method, host and port, and once per status code of each.
//
// Of the options, WithTracerProvider, WithMeterProvider and WithTextMapPropagator apply;
// WithFilter and WithoutActiveCalls are about gRPC methods and have no effect here.
type HTTPClient struct {
	tracer    trace.Tracer
	globalTP  bool
	unsetTP   trace.TracerProvider // the global provider while nothing was set; nil if unknown
	noopTP    bool
	prop      propagation.TextMapPropagator // nil when it writes nothing
	unsetProp propagation.TextMapPropagator // the global one while nothing was set
	global    bool                          // prop is the global propagator: look it up per request
	dur       metric.Float64Histogram
	startOpts []trace.SpanStartOption

	mu      sync.Mutex // serialises inserts into targets
	targets atomic.Pointer[map[httpTargetKey]*httpTarget]
}

// NewHTTPClient returns the HTTP client telemetry over the providers and propagator the
// options name, OpenTelemetry's globals by default (followed when set later).
func NewHTTPClient(opts ...Option) *HTTPClient {
	c := config{}
	for _, o := range opts {
		o(&c)
	}
	h := &HTTPClient{startOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}}
	if c.tp == nil {
		h.globalTP = true
		if tp := otel.GetTracerProvider(); isGlobalDefault(tp) {
			h.unsetTP = tp
		}
		c.tp = otel.GetTracerProvider()
	} else if _, ok := c.tp.(tracenoop.TracerProvider); ok {
		h.noopTP = true
	}
	h.tracer = c.tp.Tracer(ScopeName)
	if c.prop == nil {
		h.global = true
		if p := otel.GetTextMapPropagator(); isGlobalDefault(p) {
			h.unsetProp = p
		}
	} else if len(c.prop.Fields()) > 0 {
		h.prop = c.prop
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	meter := c.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	d, err := httpconv.NewClientRequestDuration(meter)
	if err != nil {
		otel.Handle(err)
	}
	h.dur = d.Inst()
	if h.dur == nil {
		h.dur = noop.Float64Histogram{}
	}
	return h
}

// isGlobalDefault reports whether v is one of OpenTelemetry's global placeholders, which do
// nothing until a provider or propagator is set. Comparing against the placeholder each
// request is cheaper than calling it: the placeholder propagator takes a lock per call.
func isGlobalDefault(v any) bool {
	t := reflect.TypeOf(v)
	if t == nil {
		return false
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// tracing reports whether spans may be recorded now.
func (h *HTTPClient) tracing() bool {
	if h.globalTP {
		// The placeholder is a pointer, so the comparison cannot panic.
		return h.unsetTP == nil || otel.GetTracerProvider() != h.unsetTP
	}
	return !h.noopTP
}

// propagator returns the propagator to inject with, nil when it would write nothing.
func (h *HTTPClient) propagator() propagation.TextMapPropagator {
	if !h.global {
		return h.prop
	}
	p := otel.GetTextMapPropagator()
	if h.unsetProp != nil && p == h.unsetProp {
		return nil
	}
	return p
}

// HTTPClientRequest is one request between HTTPClient.Start and HTTPClient.End. Its zero
// value records nothing.
type HTTPClientRequest struct {
	ctx    context.Context
	target *httpTarget
	span   trace.Span
	start  time.Time
}

// httpTargetKey identifies the requests that share their metric attributes but for the
// status code.
type httpTargetKey struct {
	method, host string
	port         int
}

// httpTarget holds what is built once per method, host and port.
type httpTarget struct {
	attrs []attribute.KeyValue // http.request.method, server.address, server.port
	mu    sync.Mutex
	codes atomic.Pointer[map[int][]metric.RecordOption]
}

// Start begins the telemetry of one attempt at req; resend is the number of attempts made
// before it (0 for the first). It returns the request to send, which is req itself unless
// a span context or baggage had to be written into its headers: then it is a copy with
// its own headers, so that req, which belongs to the caller, is left as it was. Call End
// exactly once with what the returned request got.
func (h *HTTPClient) Start(req *http.Request, resend int) (*http.Request, HTTPClientRequest) {
	var r HTTPClientRequest
	ctx := req.Context()
	tracing, prop, metering := h.tracing(), h.propagator(), h.dur.Enabled(ctx)
	if !tracing && prop == nil && !metering {
		return req, r
	}
	method, known := knownMethod(req.Method)
	if tracing || metering {
		r.target = h.target(method, req.URL)
		r.ctx = ctx
	}
	if metering {
		r.start = time.Now()
	}
	if tracing {
		name := method
		if !known {
			name = "HTTP"
		}
		ctx, r.span = h.tracer.Start(ctx, name, h.startOpts...)
		if r.span.IsRecording() {
			r.span.SetAttributes(r.target.attrs...)
			r.span.SetAttributes(semconv.URLFull(redactedURL(req.URL)))
			if !known {
				r.span.SetAttributes(semconv.HTTPRequestMethodOriginal(req.Method))
			}
			if resend > 0 {
				r.span.SetAttributes(semconv.HTTPRequestResendCount(resend))
			}
		}
	}
	if prop != nil && (trace.SpanContextFromContext(ctx).IsValid() || baggage.FromContext(ctx).Len() > 0) {
		out := new(http.Request)
		*out = *req
		out.Header = req.Header.Clone()
		if out.Header == nil {
			out.Header = http.Header{}
		}
		prop.Inject(ctx, propagation.HeaderCarrier(out.Header))
		req = out
	}
	return req, r
}

// SetPeer records the address the request was sent to (host:port of the instance), as
// network.peer.address and network.peer.port on a recording span.
func (r *HTTPClientRequest) SetPeer(addr string) {
	if r.span == nil || !r.span.IsRecording() {
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	r.span.SetAttributes(semconv.NetworkPeerAddress(host))
	if p, err := strconv.Atoi(port); err == nil {
		r.span.SetAttributes(semconv.NetworkPeerPort(p))
	}
}

// End finishes the telemetry of a request begun with Start: resp is its response (nil on
// error), err the transport's error. The span ends here, when the response's headers have
// arrived, and the duration covers the same stretch.
func (h *HTTPClient) End(r *HTTPClientRequest, resp *http.Response, err error) {
	if r.target == nil {
		return
	}
	status := 0
	if err == nil && resp != nil {
		status = resp.StatusCode
	}
	var errType string
	switch {
	case err != nil:
		errType = errorType(err)
	case status >= 400:
		errType = strconv.Itoa(status)
	}
	if r.span != nil {
		if r.span.IsRecording() {
			if status != 0 {
				r.span.SetAttributes(semconv.HTTPResponseStatusCode(status))
			}
			if errType != "" {
				r.span.SetAttributes(semconv.ErrorTypeKey.String(errType))
				desc := ""
				if err != nil {
					desc = err.Error()
				}
				r.span.SetStatus(codes.Error, desc)
			}
		}
		r.span.End()
	}
	if !r.start.IsZero() {
		d := time.Since(r.start).Seconds()
		if err != nil {
			h.dur.Record(r.ctx, d, metric.WithAttributeSet(r.target.set(0, errType)))
		} else {
			h.dur.Record(r.ctx, d, r.target.forStatus(status)...)
		}
	}
	*r = HTTPClientRequest{}
}

// RoundTripper returns next (http.DefaultTransport if nil) with each request recorded, for
// HTTP clients outside package rest.
func (h *HTTPClient) RoundTripper(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		out, r := h.Start(req, 0)
		resp, err := next.RoundTrip(out)
		h.End(&r, resp, err)
		return resp, err
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// target returns the prebuilt attributes of a request, building them on a miss.
func (h *HTTPClient) target(method string, u *url.URL) *httpTarget {
	host := u.Hostname()
	port := 0
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	} else if u.Scheme == "https" {
		port = 443
	} else {
		port = 80
	}
	k := httpTargetKey{method: method, host: host, port: port}
	if m := h.targets.Load(); m != nil {
		if t, ok := (*m)[k]; ok {
			return t
		}
	}
	t := &httpTarget{attrs: []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(method), semconv.ServerAddress(host), semconv.ServerPort(port),
	}}
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.targets.Load()
	if old != nil {
		if t2, ok := (*old)[k]; ok {
			return t2
		}
		if len(*old) >= maxHTTPTargets {
			return t
		}
	}
	h.targets.Store(withEntry(old, k, t))
	return t
}

// maxCodesPerTarget bounds the per-status cache; status codes come from servers.
const maxCodesPerTarget = 64

// forStatus returns the record options of a response with status code status.
func (t *httpTarget) forStatus(status int) []metric.RecordOption {
	if m := t.codes.Load(); m != nil {
		if o, ok := (*m)[status]; ok {
			return o
		}
	}
	errType := ""
	if status >= 400 {
		errType = strconv.Itoa(status)
	}
	o := []metric.RecordOption{metric.WithAttributeSet(t.set(status, errType))}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.codes.Load()
	if old != nil && len(*old) >= maxCodesPerTarget {
		return o
	}
	t.codes.Store(withEntry(old, status, o))
	return o
}

func (t *httpTarget) set(status int, errType string) attribute.Set {
	attrs := make([]attribute.KeyValue, 0, len(t.attrs)+2)
	attrs = append(attrs, t.attrs...)
	if status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
	}
	if errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
	}
	return attribute.NewSet(attrs...)
}

// knownMethod returns the method as the conventions record it: one of the methods of RFC
// 9110 and PATCH as is, anything else as _OTHER (known is then false).
func knownMethod(m string) (method string, known bool) {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodConnect, http.MethodOptions, http.MethodTrace, http.MethodPatch:
		return m, true
	case "":
		return http.MethodGet, true // net/http sends an empty method as GET
	}
	return "_OTHER", false
}

// redactedURL writes u for url.full without credentials, as the conventions require.
func redactedURL(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = url.UserPassword("REDACTED", "REDACTED")
	return c.String()
}

// errorType names a transport error with few distinct values, for error.type: "timeout"
// for a timeout, "canceled" for a cancelled request, else the error's Go type.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() {
		return "timeout"
	}
	return reflect.TypeOf(err).String()
}
