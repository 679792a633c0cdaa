package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/tianshu-go/tianshu/telemetry"
)

// ErrInvalidConfig is wrapped by every error Setup and NewTracerProvider return for bad
// options: a sample ratio outside [0, 1], an unknown protocol, a malformed endpoint, two
// exporters at once.
var ErrInvalidConfig = errors.New("tracing: invalid configuration")

// Protocol is the OTLP transport spans are exported with.
type Protocol string

// OTLP transports. Jaeger v2 and the OpenTelemetry Collector accept both.
const (
	// ProtocolGRPC exports OTLP over gRPC, conventionally to port 4317.
	ProtocolGRPC Protocol = "grpc"
	// ProtocolHTTP exports OTLP as protobuf over HTTP, conventionally to port 4318.
	ProtocolHTTP Protocol = "http"
)

// DefaultSampleRatio is the share of new traces recorded when no ratio is set. Parent-based
// sampling keeps every trace that an upstream service already chose to record.
const DefaultSampleRatio = 0.01

// Option configures Setup and NewTracerProvider.
type Option func(*setupConfig)

type setupConfig struct {
	service, version, instance string
	attrs                      []attribute.KeyValue
	protocol                   Protocol
	endpoint                   string
	exporter                   sdktrace.SpanExporter
	sync                       bool
	ratio                      float64
	sampler                    sdktrace.Sampler
	propagator                 propagation.TextMapPropagator
	timeout                    time.Duration
	errs                       []error
}

func (c *setupConfig) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
}

// WithServiceName sets the service.name resource attribute, the name Jaeger lists the
// service under. Without it the SDK's default (from OTEL_SERVICE_NAME, else
// "unknown_service:<binary>") applies.
func WithServiceName(name string) Option { return func(c *setupConfig) { c.service = name } }

// WithServiceVersion sets the service.version resource attribute.
func WithServiceVersion(v string) Option { return func(c *setupConfig) { c.version = v } }

// WithInstanceID sets the service.instance.id resource attribute; use the registry instance
// ID so that a trace leads to the instance that served it. The default is
// <hostname>-<pid>.
func WithInstanceID(id string) Option { return func(c *setupConfig) { c.instance = id } }

// WithResourceAttributes adds attributes to the resource (deployment.environment.name, for
// instance).
func WithResourceAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *setupConfig) { c.attrs = append(c.attrs, attrs...) }
}

// WithOTLP exports spans over OTLP with protocol p to endpoint, a URL such as
// http://127.0.0.1:4317 (plain text) or https://collector:4318 (TLS). The HTTP protocol
// posts to the endpoint's path, or /v1/traces when it has none. Without WithOTLP or
// WithExporter spans are recorded but not exported.
func WithOTLP(p Protocol, endpoint string) Option {
	return func(c *setupConfig) {
		if c.exporter != nil || c.endpoint != "" {
			c.fail("more than one exporter configured")
		}
		c.protocol, c.endpoint = p, endpoint
	}
}

// WithExporter exports spans to e, an exporter built by the caller (a test's
// tracetest.InMemoryExporter, stdouttrace).
func WithExporter(e sdktrace.SpanExporter) Option {
	return func(c *setupConfig) {
		if c.exporter != nil || c.endpoint != "" {
			c.fail("more than one exporter configured")
		}
		c.exporter = e
	}
}

// WithSyncExport exports each span as it ends instead of in batches. It costs an export per
// span: use it in tests and short-lived tools, never in a serving process.
func WithSyncExport() Option { return func(c *setupConfig) { c.sync = true } }

// WithSampleRatio records ratio (0 to 1) of the traces this service starts, and follows the
// caller's decision for the traces it joins (a parent-based ratio sampler). The default is
// DefaultSampleRatio.
func WithSampleRatio(ratio float64) Option {
	return func(c *setupConfig) {
		if !(ratio >= 0 && ratio <= 1) { // also rejects NaN
			c.fail("sample ratio %v is outside [0, 1]", ratio)
		}
		c.ratio = ratio
	}
}

// WithSampler replaces the parent-based ratio sampler.
func WithSampler(s sdktrace.Sampler) Option { return func(c *setupConfig) { c.sampler = s } }

// WithPropagator sets the propagator Setup installs globally; the default is
// telemetry.Propagator().
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *setupConfig) { c.propagator = p }
}

// WithExportTimeout bounds each export (default 10 s).
func WithExportTimeout(d time.Duration) Option { return func(c *setupConfig) { c.timeout = d } }

func newSetupConfig(opts []Option) (*setupConfig, error) {
	c := &setupConfig{ratio: DefaultSampleRatio, timeout: 10 * time.Second}
	for _, o := range opts {
		o(c)
	}
	if c.endpoint != "" {
		if c.protocol != ProtocolGRPC && c.protocol != ProtocolHTTP {
			c.fail("unknown OTLP protocol %q (want %q or %q)", c.protocol, ProtocolGRPC, ProtocolHTTP)
		}
		u, err := url.Parse(c.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.fail("OTLP endpoint %q is not an http:// or https:// URL with a host", c.endpoint)
		}
	}
	if c.timeout <= 0 {
		c.fail("export timeout %v is not positive", c.timeout)
	}
	if c.propagator == nil {
		c.propagator = telemetry.Propagator()
	}
	return c, errors.Join(c.errs...)
}

// NewTracerProvider builds an SDK tracer provider from opts and touches no global state. The
// caller owns it: call its Shutdown (which flushes queued spans) before the process exits.
func NewTracerProvider(ctx context.Context, opts ...Option) (*TracerProvider, error) {
	c, err := newSetupConfig(opts)
	if err != nil {
		return nil, err
	}
	return c.provider(ctx)
}

func (c *setupConfig) provider(ctx context.Context) (*TracerProvider, error) {
	res, err := c.resource(ctx)
	if err != nil {
		return nil, err
	}
	p := &TracerProvider{}
	sampler := c.sampler
	if sampler == nil {
		sampler = sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.ratio))
		p.head = telemetry.NewHeadSampler(c.ratio, p)
	}
	popts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler),
		sdktrace.WithIDGenerator(telemetry.IDGenerator{})}
	exp := c.exporter
	if c.endpoint != "" {
		if exp, err = c.otlp(ctx); err != nil {
			return nil, err
		}
	}
	switch {
	case exp == nil:
	case c.sync:
		popts = append(popts, sdktrace.WithSyncer(exp))
	default:
		popts = append(popts, sdktrace.WithBatcher(exp, sdktrace.WithExportTimeout(c.timeout)))
	}
	p.TracerProvider = sdktrace.NewTracerProvider(popts...)
	return p, nil
}

func (c *setupConfig) otlp(ctx context.Context) (sdktrace.SpanExporter, error) {
	u, _ := url.Parse(c.endpoint) // validated in newSetupConfig
	var (
		exp sdktrace.SpanExporter
		err error
	)
	if c.protocol == ProtocolGRPC {
		o := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(u.Host), otlptracegrpc.WithTimeout(c.timeout)}
		if u.Scheme == "http" {
			o = append(o, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, o...)
	} else {
		o := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host), otlptracehttp.WithTimeout(c.timeout)}
		if u.Scheme == "http" {
			o = append(o, otlptracehttp.WithInsecure())
		}
		if p := strings.TrimRight(u.Path, "/"); p != "" {
			o = append(o, otlptracehttp.WithURLPath(p))
		}
		exp, err = otlptracehttp.New(ctx, o...)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP %s exporter for %s: %w", c.protocol, c.endpoint, err)
	}
	return exp, nil
}

func (c *setupConfig) resource(ctx context.Context) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{}
	if c.service != "" {
		attrs = append(attrs, semconv.ServiceName(c.service))
	}
	if c.version != "" {
		attrs = append(attrs, semconv.ServiceVersion(c.version))
	}
	id := c.instance
	if id == "" {
		host, _ := os.Hostname()
		id = host + "-" + strconv.Itoa(os.Getpid())
	}
	attrs = append(attrs, semconv.ServiceInstanceID(id))
	attrs = append(attrs, c.attrs...)
	// Later detectors win: explicit options override OTEL_RESOURCE_ATTRIBUTES and
	// OTEL_SERVICE_NAME.
	if c.service == "" && os.Getenv("OTEL_SERVICE_NAME") == "" {
		attrs = append(attrs, semconv.ServiceName("unknown_service:"+filepath.Base(os.Args[0])))
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv(),
		resource.WithSchemaURL(semconv.SchemaURL), resource.WithAttributes(attrs...))
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return res, nil
}

// Setup builds a tracer provider from opts and installs it, with the propagator, as
// OpenTelemetry's global tracer provider and text map propagator: the one place Tianshu
// changes global state, and only when the application asks. The telemetry handlers use the
// globals unless given explicit providers, so after Setup every rpc.Server and rpc.Dial
// connection traces.
//
// shutdown flushes queued spans and stops the exporter; call it before the process exits,
// with a context that bounds the flush. It does not restore the previous globals.
func Setup(ctx context.Context, opts ...Option) (shutdown func(context.Context) error, err error) {
	c, err := newSetupConfig(opts)
	if err != nil {
		return nil, err
	}
	tp, err := c.provider(ctx)
	if err != nil {
		return nil, err
	}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(c.propagator)
	return tp.Shutdown, nil
}
