package tracing

import (
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tianshu-go/tianshu/telemetry"
)

// At 1% sampling, 99 calls in 100 record nothing, yet the SDK still builds a span for each.
// A provider built by NewTracerProvider or Setup with the default sampler tells the
// telemetry handlers its sampling rule (telemetry.HeadSampler), so they drop those calls
// themselves, exactly as the SDK would; telemetry.IDGenerator gives a sampled call's span
// the IDs the handler decided on.

// TracerProvider is the OpenTelemetry SDK's tracer provider as NewTracerProvider builds it.
// Use it as the SDK's (Tracer, ForceFlush, Shutdown). It differs in one way: Tianshu's
// telemetry handlers recognise it and, when it uses the default parent-based ratio
// sampler, decide for themselves which calls are dropped, without the SDK's per-span work.
type TracerProvider struct {
	*sdktrace.TracerProvider
	head *telemetry.HeadSampler // nil with a custom sampler (WithSampler)
}

// HeadSampler returns the provider's sampling rule, for the telemetry handlers; nil when the
// provider was built WithSampler.
func (p *TracerProvider) HeadSampler() *telemetry.HeadSampler { return p.head }

var _ telemetry.HeadSampledProvider = (*TracerProvider)(nil)
