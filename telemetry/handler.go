package telemetry

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/rpcconv"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/tianshu-go/tianshu/internal/callhist"
)

// ScopeName is the instrumentation scope of the spans and metrics the handlers record. It
// keeps the path of the package the handlers came from (tracing), because the scope is on
// the wire: Prometheus shows it as otel_scope_name and span backends as the library name,
// and dashboards and queries filter on it.
const ScopeName = "github.com/tianshu-go/tianshu/tracing"

// Names of the in-flight gauges, which OpenTelemetry's RPC conventions do not define.
const (
	ServerActiveCallsName = "tianshu.rpc.server.active_calls"
	ClientActiveCallsName = "tianshu.rpc.client.active_calls"
)

// durationBuckets returns otelgrpc's bucket bounds, in seconds, so that dashboards built for
// it read Tianshu's histograms unchanged.
func durationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
}

// status mapping, units and bucket bounds of otelgrpc v0.72, and an in-flight gauge; it
// propagates span contexts through gRPC metadata. Install it either as a grpc
// stats.Handler (ServerOption, DialOption) or through its interceptors
// (UnaryServerInterceptor and the like), not both. The interceptors are the fast path:
// grpc-go's stats machinery alone costs more per call than the whole tracing budget (see
// BenchmarkEcho's empty-stats-handler case).
//
// It is built for the hot path: attribute sets are made once per method (and, on a client,
// per server address and status code), an unsampled call allocates only what the tracer
// and propagator need, and in-flight counts are plain atomics read when metrics are
// collected.
type Handler struct {
	server  bool
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	filter  func(string) bool
	dur     metric.Float64Histogram
	hist    *callhist.Instrument // durations, when the meter provider aggregates them itself
	bounds  []float64
	active  metric.Int64ObservableUpDownCounter
	reg     metric.Registration
	kind    trace.SpanKind
	methods methodTable

	globalTP bool // the tracer provider is OpenTelemetry's global one
	// globalProp says the propagator is OpenTelemetry's global one, looked up per call;
	// unsetProp is that global as it was before anything set it, if it was, and propSet
	// says a call has seen it set since.
	globalProp bool
	unsetProp  propagation.TextMapPropagator
	propSet    atomic.Bool
	// unsetTP is the global tracer provider as it was before anything set it, if it was,
	// and tpSet says a call has seen it set since.
	unsetTP   trace.TracerProvider
	tpSet     atomic.Bool
	fixedHead *HeadSampler // the sampling rule of an explicit provider, if known
	quick     *multiFormat // prop, when it is Tianshu's: servers may read it with quickExtract
}

var _ stats.Handler = (*Handler)(nil)

// NewServerHandler returns the handler for a gRPC server: grpc.StatsHandler(h).
func NewServerHandler(opts ...Option) *Handler { return newHandler(true, opts) }

// NewClientHandler returns the handler for a gRPC client: grpc.WithStatsHandler(h).
func NewClientHandler(opts ...Option) *Handler { return newHandler(false, opts) }

// IsServer reports whether h was made by NewServerHandler, so that code handed a Handler can
// refuse one made for the other side (whose spans would be of the wrong kind).
func (h *Handler) IsServer() bool { return h.server }

// ServerOption returns grpc.StatsHandler(NewServerHandler(opts...)), for a plain
// grpc.NewServer. rpc.NewServer installs its own handler (configure it with
// rpc.WithServerTelemetry): given this option as well, every call would be traced twice.
func ServerOption(opts ...Option) grpc.ServerOption {
	return grpc.StatsHandler(NewServerHandler(opts...))
}

// DialOption returns grpc.WithStatsHandler(NewClientHandler(opts...)), for a plain
// grpc.NewClient. rpc.Dial installs its own handler (replace it with
// rpc.WithClientTelemetry): given this option as well, a call would carry two traceparent
// headers, and servers would take the outer span as the caller's.
func DialOption(opts ...Option) grpc.DialOption {
	return grpc.WithStatsHandler(NewClientHandler(opts...))
}

func newHandler(server bool, opts []Option) *Handler {
	c := config{}
	for _, o := range opts {
		o(&c)
	}
	globalTP := c.tp == nil
	if globalTP {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	globalProp := c.prop == nil
	if globalProp {
		c.prop = otel.GetTextMapPropagator()
	}
	h := &Handler{server: server, prop: c.prop, filter: c.filter, kind: trace.SpanKindClient, globalTP: globalTP,
		globalProp: globalProp}
	if globalTP && isUnsetGlobalTracer(c.tp) {
		h.unsetTP = c.tp
	}
	if globalProp && isUnsetGlobal(c.prop) {
		h.unsetProp = c.prop
	}
	if p, ok := c.tp.(HeadSampledProvider); ok && !globalTP {
		h.fixedHead = p.HeadSampler()
	}
	if mf, ok := c.prop.(multiFormat); ok {
		h.quick = &mf
	}
	if server {
		h.kind = trace.SpanKindServer
	}
	h.tracer = c.tp.Tracer(ScopeName)
	h.methods.build = h.newMethod
	meter := c.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	h.bounds = durationBuckets()
	buckets := metric.WithExplicitBucketBoundaries(h.bounds...)
	activeName, activeDesc := ClientActiveCallsName, "Calls this client has started and not yet finished."
	var desc callhist.Desc
	var err error
	if server {
		var d rpcconv.ServerCallDuration
		desc = callhist.Desc{Name: d.Name(), Unit: d.Unit(), Description: d.Description()}
		activeName, activeDesc = ServerActiveCallsName, "Calls this server is handling."
		if _, fast := c.mp.(callhist.Provider); !fast {
			d, err = rpcconv.NewServerCallDuration(meter, buckets)
			h.dur = d.Inst()
		}
	} else {
		var d rpcconv.ClientCallDuration
		desc = callhist.Desc{Name: d.Name(), Unit: d.Unit(), Description: d.Description()}
		if _, fast := c.mp.(callhist.Provider); !fast {
			d, err = rpcconv.NewClientCallDuration(meter, buckets)
			h.dur = d.Inst()
		}
	}
	if p, ok := c.mp.(callhist.Provider); ok {
		// Metrics' own providers aggregate call durations without the SDK's per-Record
		// attribute normalisation (see package callhist); their producer reports them under
		// the same scope, name and buckets.
		desc.Scope, desc.SchemaURL, desc.Bounds = ScopeName, semconv.SchemaURL, h.bounds
		h.hist = p.CallDurations().Instrument(desc)
	}
	if err != nil {
		otel.Handle(err)
	}
	if h.dur == nil {
		h.dur = noop.Float64Histogram{}
	}
	if c.noActive {
		return h
	}
	h.active, err = meter.Int64ObservableUpDownCounter(activeName,
		metric.WithDescription(activeDesc), metric.WithUnit("{call}"))
	if err == nil {
		h.reg, err = meter.RegisterCallback(h.observeActive, h.active)
	}
	if err != nil {
		otel.Handle(err)
	}
	return h
}

// Close stops reporting the in-flight gauge. The handler keeps recording spans and
// durations; Close only releases what it registered with the meter provider, so call it
// when the server or connection it serves is gone.
func (h *Handler) Close() error {
	if h.reg == nil {
		return nil
	}
	return h.reg.Unregister()
}

func (h *Handler) observeActive(_ context.Context, o metric.Observer) error {
	if mp := h.methods.m.Load(); mp != nil {
		for _, m := range *mp {
			o.ObserveInt64(h.active, m.active.Load(), m.activeOpt)
		}
	}
	return nil
}
