package telemetry

import (
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Option configures NewServerHandler and NewClientHandler.
type Option func(*config)

type config struct {
	tp     trace.TracerProvider
	mp     metric.MeterProvider
	prop   propagation.TextMapPropagator
	filter func(fullMethod string) bool
	// noActive leaves out the in-flight gauge, whose callback lives until Close.
	noActive bool
}

// WithoutActiveCalls leaves out the in-flight gauge, so the handler registers nothing with
// the meter provider and needs no Close: for handlers whose owner has no end of life to
// call Close from, such as the one rpc.Dial makes for each connection.
func WithoutActiveCalls() Option { return func(c *config) { c.noActive = true } }

// WithTracerProvider sets where spans go; the default is otel.GetTracerProvider() at the
// time the handler is made (which follows a later Setup).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider sets where metrics go; the default is otel.GetMeterProvider(). Pass
// metrics.Prometheus's provider to expose them on /metrics.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithTextMapPropagator sets how span contexts cross the wire; the default is
// otel.GetTextMapPropagator(), which propagates nothing until Setup (or the application)
// sets it.
func WithTextMapPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

// WithFilter records spans and metrics only for the calls keep accepts; the others still
// propagate the caller's context. The gRPC handlers give keep the full method name
// (/pkg.Service/Method), HTTPServer the ServeMux pattern ("GET /orders/{id}", "" when none
// matched), HTTPClient the request's host ("orders").
func WithFilter(keep func(fullMethod string) bool) Option {
	return func(c *config) { c.filter = keep }
}
