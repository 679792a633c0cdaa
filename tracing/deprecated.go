package tracing

import (
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/telemetry"
)

// The per-call instrumentation moved to package telemetry, so that a program that only
// instruments calls (every user of rpc) links no SDK and no exporter. These names keep
// old code compiling for one release; each says what to write instead. Importing them
// still links the SDK, since this package sets it up.

// Handler records spans and metrics for every call.
//
// Deprecated: use telemetry.Handler.
type Handler = telemetry.Handler

// HandlerOption configures NewServerHandler and NewClientHandler.
//
// Deprecated: use telemetry.Option.
type HandlerOption = telemetry.Option

// Format is a span-context header format Propagator can write.
//
// Deprecated: use telemetry.Format.
type Format = telemetry.Format

// LogHandler adds trace and span IDs to log records.
//
// Deprecated: use telemetry.LogHandler.
type LogHandler = telemetry.LogHandler

// Formats Propagator writes besides W3C traceparent.
const (
	// Deprecated: use telemetry.FormatB3.
	FormatB3 = telemetry.FormatB3
	// Deprecated: use telemetry.FormatJaeger.
	FormatJaeger = telemetry.FormatJaeger
)

// ScopeName is the instrumentation scope of the spans and metrics the handlers record.
//
// Deprecated: use telemetry.ScopeName.
const ScopeName = telemetry.ScopeName

// Names of the in-flight gauges.
const (
	// Deprecated: use telemetry.ServerActiveCallsName.
	ServerActiveCallsName = telemetry.ServerActiveCallsName
	// Deprecated: use telemetry.ClientActiveCallsName.
	ClientActiveCallsName = telemetry.ClientActiveCallsName
)

// Keys of the attributes LogHandler adds.
const (
	// Deprecated: use telemetry.TraceIDKey.
	TraceIDKey = telemetry.TraceIDKey
	// Deprecated: use telemetry.SpanIDKey.
	SpanIDKey = telemetry.SpanIDKey
)

// NewServerHandler returns the handler for a gRPC server.
//
// Deprecated: use telemetry.NewServerHandler.
func NewServerHandler(opts ...HandlerOption) *Handler { return telemetry.NewServerHandler(opts...) }

// NewClientHandler returns the handler for a gRPC client.
//
// Deprecated: use telemetry.NewClientHandler.
func NewClientHandler(opts ...HandlerOption) *Handler { return telemetry.NewClientHandler(opts...) }

// ServerOption returns grpc.StatsHandler(NewServerHandler(opts...)).
//
// Deprecated: use telemetry.ServerOption.
func ServerOption(opts ...HandlerOption) grpc.ServerOption { return telemetry.ServerOption(opts...) }

// DialOption returns grpc.WithStatsHandler(NewClientHandler(opts...)).
//
// Deprecated: use telemetry.DialOption.
func DialOption(opts ...HandlerOption) grpc.DialOption { return telemetry.DialOption(opts...) }

// WithoutActiveCalls leaves out the in-flight gauge.
//
// Deprecated: use telemetry.WithoutActiveCalls.
func WithoutActiveCalls() HandlerOption { return telemetry.WithoutActiveCalls() }

// WithTracerProvider sets where spans go.
//
// Deprecated: use telemetry.WithTracerProvider.
func WithTracerProvider(tp trace.TracerProvider) HandlerOption {
	return telemetry.WithTracerProvider(tp)
}

// WithMeterProvider sets where metrics go.
//
// Deprecated: use telemetry.WithMeterProvider.
func WithMeterProvider(mp metric.MeterProvider) HandlerOption {
	return telemetry.WithMeterProvider(mp)
}

// WithTextMapPropagator sets how span contexts cross the wire.
//
// Deprecated: use telemetry.WithTextMapPropagator.
func WithTextMapPropagator(p propagation.TextMapPropagator) HandlerOption {
	return telemetry.WithTextMapPropagator(p)
}

// WithFilter records spans and metrics only for the calls keep accepts.
//
// Deprecated: use telemetry.WithFilter.
func WithFilter(keep func(fullMethod string) bool) HandlerOption {
	return telemetry.WithFilter(keep)
}

// Propagator returns the propagator Setup installs by default.
//
// Deprecated: use telemetry.Propagator.
func Propagator(always ...Format) propagation.TextMapPropagator {
	return telemetry.Propagator(always...)
}

// NewLogHandler wraps next so that records carry trace and span IDs.
//
// Deprecated: use telemetry.NewLogHandler.
func NewLogHandler(next slog.Handler) *LogHandler { return telemetry.NewLogHandler(next) }

// NewJSONLogger returns a JSON logger whose records carry trace and span IDs.
//
// Deprecated: use telemetry.NewJSONLogger.
func NewJSONLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return telemetry.NewJSONLogger(w, level)
}
