package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
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

// Handler records, for every call, a span named pkg.Service/Method and the
// rpc.server.call.duration or rpc.client.call.duration histogram, with the attributes,
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
	providers
	server  bool
	filter  func(string) bool
	dur     *durations
	active  metric.Int64ObservableUpDownCounter
	reg     metric.Registration
	kind    trace.SpanKind
	methods methodTable
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
	h := &Handler{server: server, filter: c.filter, kind: trace.SpanKindClient}
	h.init(&c)
	if server {
		h.kind = trace.SpanKindServer
	}
	h.methods.build = h.newMethod
	activeName, activeDesc := ClientActiveCallsName, "Calls this client has started and not yet finished."
	if server {
		activeName, activeDesc = ServerActiveCallsName, "Calls this server is handling."
		var d rpcconv.ServerCallDuration
		h.dur = newDurations(c.mp, callhist.Desc{Name: d.Name(), Unit: d.Unit(), Description: d.Description()},
			func(m metric.Meter, o metric.HistogramOption) (metric.Float64Histogram, error) {
				d, err := rpcconv.NewServerCallDuration(m, o)
				return d.Inst(), err
			})
	} else {
		var d rpcconv.ClientCallDuration
		h.dur = newDurations(c.mp, callhist.Desc{Name: d.Name(), Unit: d.Unit(), Description: d.Description()},
			func(m metric.Meter, o metric.HistogramOption) (metric.Float64Histogram, error) {
				d, err := rpcconv.NewClientCallDuration(m, o)
				return d.Inst(), err
			})
	}
	if c.noActive {
		return h
	}
	meter := c.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	var err error
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
