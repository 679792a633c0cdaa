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

	"github.com/tianshu-go/tianshu/internal/callhist"
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
	meters   metric.MeterProvider // provider, with call durations aggregated beside it
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
	// Without views, call durations are aggregated by Tianshu and produced for the
	// exporter; a view may rename or re-bucket them, which only the SDK's instruments obey.
	var durations *callhist.Store
	eopts := []otelprom.Option{otelprom.WithRegisterer(c.registry)}
	if len(c.views) == 0 {
		durations = &callhist.Store{}
		eopts = append(eopts, otelprom.WithProducer(producer{durations}))
	}
	exp, err := otelprom.New(eopts...)
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
	p := &Prometheus{
		provider: sdkmetric.NewMeterProvider(popts...),
		registry: c.registry,
		handler:  promhttp.HandlerFor(c.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
	}
	p.meters = p.provider
	if durations != nil {
		p.meters = &meterProvider{MeterProvider: p.provider, durations: durations}
	}
	return p, nil
}

// MeterProvider returns the provider to record with: pass it to telemetry.WithMeterProvider
// (telemetry.WithMeterProvider takes it, for rpc.WithServerTelemetry), ObserveBreakers and
// InstrumentRegistry, or install it with otel.SetMeterProvider.
//
// Given to telemetry directly (not through the global provider), it records call
// durations in a few atomic adds instead of the SDK's histogram Record; /metrics shows
// the same series either way. With views (WithView), durations go through the SDK.
func (p *Prometheus) MeterProvider() metric.MeterProvider { return p.meters }

// Registry returns the Prometheus registry the metrics are gathered from.
func (p *Prometheus) Registry() *prometheus.Registry { return p.registry }

// Handler serves the metrics in the Prometheus exposition format (text, or protobuf and
// OpenMetrics when the scraper asks).
func (p *Prometheus) Handler() http.Handler { return p.handler }

// Shutdown stops the meter provider; /metrics serves nothing from it afterwards.
func (p *Prometheus) Shutdown(ctx context.Context) error { return p.provider.Shutdown(ctx) }
