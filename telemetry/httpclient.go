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

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/tianshu-go/tianshu/internal/callhist"
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
// WithFilter is given the request's host (the service name for rest's client, "orders"),
// and a request it refuses is sent with the caller's context propagated but no span or
// duration of its own; WithoutActiveCalls is implied (there is no in-flight gauge).
type HTTPClient struct {
	providers
	filter    func(string) bool
	dur       *durations
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
	h := &HTTPClient{filter: c.filter, startOpts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}}
	h.init(&c)
	var d httpconv.ClientRequestDuration
	h.dur = newDurations(c.mp, callhist.Desc{Name: d.Name(), Unit: d.Unit(), Description: d.Description()},
		func(m metric.Meter, o metric.HistogramOption) (metric.Float64Histogram, error) {
			d, err := httpconv.NewClientRequestDuration(m, o)
			return d.Inst(), err
		})
	return h
}

// HTTPClientRequest is one request between HTTPClient.Start and HTTPClient.End. Its zero
// value records nothing.
type HTTPClientRequest struct {
	ctx    context.Context
	target *httpTarget
	span   trace.Span
	start  mark // noMark: not measured
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
	codes atomic.Pointer[map[int]series]
}

// Start begins the telemetry of one attempt at req; resend is the number of attempts made
// before it (0 for the first). It returns the request to send, which is req itself unless
// a span context or baggage had to be written into its headers: then it is a copy with
// its own headers, so that req, which belongs to the caller, is left as it was. Call End
// exactly once with what the returned request got.
func (h *HTTPClient) Start(req *http.Request, resend int) (*http.Request, HTTPClientRequest) {
	r := HTTPClientRequest{start: noMark}
	ctx := req.Context()
	head, off := h.head()
	prop, _ := h.propagator()
	metering := h.dur.on(ctx)
	if h.filter != nil && !h.filter(req.URL.Host) {
		off, metering = true, false // propagate the caller's context, record nothing
	}
	if off && prop == nil && !metering {
		return req, r
	}
	method, known := knownMethod(req.Method)
	if !off || metering {
		r.target = h.target(method, req.URL)
		r.ctx = ctx
	}
	if metering {
		r.start = mark(time.Since(origin))
	}
	if !off {
		if head != nil {
			// Tianshu's providers decide without the SDK: an unsampled request gets a
			// span that only carries its context, as the gRPC handlers' do.
			d := head.decide(trace.SpanContextFromContext(ctx))
			if d.sampled {
				ctx = d.withIDs(ctx)
			} else {
				r.span = &droppedSpan{sc: d.sc, tp: head.tp}
				ctx = trace.ContextWithSpan(ctx, r.span)
			}
		}
		if r.span == nil {
			name := method
			if !known {
				name = "HTTP"
			}
			ctx, r.span = h.tracer.Start(ctx, name, h.startOpts...)
		}
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
	if r.start != noMark {
		var sc trace.SpanContext
		if r.span != nil {
			sc = r.span.SpanContext()
		}
		secs := float64(time.Since(origin)-time.Duration(r.start)) / 1e9
		if err != nil {
			h.dur.record(r.ctx, h.dur.series(r.target.set(0, errType)), secs, sc)
		} else {
			h.dur.record(r.ctx, r.target.forStatus(h.dur, status), secs, sc)
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

// forStatus returns how a response with status code status is recorded.
func (t *httpTarget) forStatus(d *durations, status int) series {
	if m := t.codes.Load(); m != nil {
		if o, ok := (*m)[status]; ok {
			return o
		}
	}
	errType := ""
	if status >= 400 {
		errType = strconv.Itoa(status)
	}
	o := d.series(t.set(status, errType))
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.codes.Load()
	if old != nil {
		if o2, ok := (*old)[status]; ok {
			return o2
		}
		if len(*old) >= maxCodesPerTarget {
			return o
		}
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

// knownMethod returns the method as the conventions record it: one of the methods of the
// HTTP specifications (RFC 9110, PATCH, QUERY) as is, anything else as _OTHER (known is
// then false), so that a peer cannot grow the attribute sets by inventing methods.
func knownMethod(m string) (method string, known bool) {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodConnect, http.MethodOptions, http.MethodTrace, http.MethodPatch, "QUERY":
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
