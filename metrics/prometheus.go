package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// ErrInvalidOption is wrapped by the errors constructors return for bad options.
var ErrInvalidOption = errors.New("metrics: invalid option")

// Option configures NewPrometheus.
type Option func(*promConfig)

type promConfig struct {
	registry *prometheus.Registry
	runtime  bool
	res      *resource.Resource
	views    []sdkmetric.View
}

// WithRegistry collects into r instead of a registry of the Prometheus's own. Tianshu never
// uses prometheus.DefaultRegisterer unless it is passed here.
func WithRegistry(r *prometheus.Registry) Option { return func(c *promConfig) { c.registry = r } }

// WithoutRuntimeMetrics leaves out the Go runtime (go_*) and process (process_*) collectors.
func WithoutRuntimeMetrics() Option { return func(c *promConfig) { c.runtime = false } }

// WithResource sets the resource whose attributes become the target_info series.
func WithResource(r *resource.Resource) Option { return func(c *promConfig) { c.res = r } }

// WithView adds OpenTelemetry views (to rename an instrument or change its buckets).
func WithView(v ...sdkmetric.View) Option {
	return func(c *promConfig) { c.views = append(c.views, v...) }
}

// Prometheus is an OpenTelemetry meter provider whose metrics are exposed in the Prometheus
// text format. Tianshu records with OpenTelemetry metrics (rather than client_golang
// directly) so that the same instruments can go to an OTLP collector instead, and so the
// RPC metrics keep OpenTelemetry's semantic-convention names; Prometheus sees them as
// rpc_server_call_duration_seconds and so on.
type Prometheus struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry
	handler  http.Handler
}

// NewPrometheus returns a meter provider and the /metrics handler that serves it.
func NewPrometheus(opts ...Option) (*Prometheus, error) {
	c := promConfig{runtime: true}
	for _, o := range opts {
		o(&c)
	}
	if c.registry == nil {
		c.registry = prometheus.NewRegistry()
	}
	if c.runtime {
		for _, col := range []prometheus.Collector{
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		} {
			if err := c.registry.Register(col); err != nil {
				return nil, fmt.Errorf("metrics: register runtime collector: %w", err)
			}
		}
	}
	exp, err := otelprom.New(otelprom.WithRegisterer(c.registry))
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	popts := []sdkmetric.Option{sdkmetric.WithReader(exp)}
	if c.res != nil {
		popts = append(popts, sdkmetric.WithResource(c.res))
	}
	for _, v := range c.views {
		popts = append(popts, sdkmetric.WithView(v))
	}
	return &Prometheus{
		provider: sdkmetric.NewMeterProvider(popts...),
		registry: c.registry,
		handler:  promhttp.HandlerFor(c.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
	}, nil
}

// MeterProvider returns the provider to record with: pass it to telemetry.WithMeterProvider
// (telemetry.WithMeterProvider takes it, for rpc.WithServerTelemetry), ObserveBreakers and
// InstrumentRegistry, or install it with otel.SetMeterProvider.
func (p *Prometheus) MeterProvider() metric.MeterProvider { return p.provider }

// Registry returns the Prometheus registry the metrics are gathered from.
func (p *Prometheus) Registry() *prometheus.Registry { return p.registry }

// Handler serves the metrics in the Prometheus exposition format (text, or protobuf and
// OpenMetrics when the scraper asks).
func (p *Prometheus) Handler() http.Handler { return p.handler }

// Shutdown stops the meter provider; /metrics serves nothing from it afterwards.
func (p *Prometheus) Shutdown(ctx context.Context) error { return p.provider.Shutdown(ctx) }
