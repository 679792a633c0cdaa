package telemetry

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tianshu-go/tianshu/internal/callhist"
)

// providers is what every recorder of this package (the gRPC Handler, HTTPServer,
// HTTPClient) takes from its options: where spans go and how span contexts cross the wire.
// OpenTelemetry's globals are looked up per call, so that a recorder made before Setup
// follows it, and so that the globals as they start, which record and propagate nothing,
// cost a call nothing.
type providers struct {
	tracer    trace.Tracer
	prop      propagation.TextMapPropagator
	quick     *multiFormat // prop, when it is Tianshu's: servers may read it with quickExtract
	globalTP  bool         // the tracer provider is OpenTelemetry's global one
	fixedHead *HeadSampler // the sampling rule of an explicit provider, if known
	// offTP is a provider that records nothing whatever the call: an explicit no-op one
	// (noopTP), or the global one as it starts (unsetTP, until tpSet says a call has seen
	// something set). Calls under it make no span of their own.
	offTP   trace.TracerProvider
	noopTP  bool
	unsetTP trace.TracerProvider
	tpSet   atomic.Bool
	// globalProp says the propagator is OpenTelemetry's global one; unsetProp is that
	// global as it was before anything set it, if it was, and propSet says a call has seen
	// it set since.
	globalProp bool
	unsetProp  propagation.TextMapPropagator
	propSet    atomic.Bool
}

// init fills p from c, and c's meter provider with the global one if it has none.
func (p *providers) init(c *config) {
	p.globalTP = c.tp == nil
	tp := c.tp
	if p.globalTP {
		tp = otel.GetTracerProvider()
		if isUnsetGlobalTracer(tp) {
			p.unsetTP, p.offTP = tp, tp
		}
	} else if _, ok := tp.(tracenoop.TracerProvider); ok {
		p.noopTP, p.offTP = true, tp
	} else if hp, ok := tp.(HeadSampledProvider); ok {
		p.fixedHead = hp.HeadSampler()
	}
	p.tracer = tp.Tracer(ScopeName)
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	p.globalProp = c.prop == nil
	p.prop = c.prop
	if p.globalProp {
		p.prop = otel.GetTextMapPropagator()
		if isUnsetGlobal(p.prop) {
			p.unsetProp = p.prop
		}
	}
	p.quick, _ = p.prop.(*multiFormat)
}

// head returns the sampling rule of the tracer provider, or nil when it is not a
// HeadSampledProvider that has one. A recorder on the global provider looks it up per
// call, so one made before Setup takes the fast path after it.
//
// off says no provider would record the call: an explicit no-op one, or the global one
// before anything set it, whose tracer would box a non-recording span around the parent's
// context and wrap the context in it, two allocations a side, where the recorder can
// carry the parent's context for nothing.
func (p *providers) head() (head *HeadSampler, off bool) {
	if !p.globalTP {
		return p.fixedHead, p.noopTP
	}
	tp := otel.GetTracerProvider()
	if p.unsetTP != nil && !p.tpSet.Load() {
		if tp == p.unsetTP {
			return nil, true
		}
		p.tpSet.Store(true) // the start-up wrapper delegates from now on, if put back
	}
	if hp, ok := tp.(HeadSampledProvider); ok {
		return hp.HeadSampler(), false
	}
	return nil, false
}

// propagator returns the propagator of a call, nil when it would propagate nothing, and
// its multiFormat when it is Tianshu's (which servers may read with quickExtract).
//
// A recorder on the global propagator looks it up per call: the global one that
// OpenTelemetry starts with propagates nothing, yet takes a mutex on every Extract and
// Inject to find out that nothing set it, and once something does, the current global
// is the propagator that was set, which follows every later Set rather than the first.
func (p *providers) propagator() (propagation.TextMapPropagator, *multiFormat) {
	if !p.globalProp {
		return p.prop, p.quick
	}
	prop := otel.GetTextMapPropagator()
	if p.unsetProp != nil && !p.propSet.Load() {
		if prop == p.unsetProp {
			return nil, nil
		}
		// Something set the global: the start-up wrapper now delegates, should anything
		// put it back (as tests restoring the globals do).
		p.propSet.Store(true)
	}
	mf, _ := prop.(*multiFormat)
	return prop, mf
}

// isUnsetGlobal says whether p is OpenTelemetry's global propagator as it starts, before
// anything was set: its delegating wrapper (whose type the API does not export) with no
// fields, which it would have once it delegates. Should a release rename the type,
// recorders only lose the shortcut: they call the wrapper, as before.
func isUnsetGlobal(p propagation.TextMapPropagator) bool {
	return p == otel.GetTextMapPropagator() && fmt.Sprintf("%T", p) == "*global.textMapPropagator" &&
		len(p.Fields()) == 0
}

// isUnsetGlobalTracer says whether tp is OpenTelemetry's global tracer provider as it
// starts: the delegating wrapper the API does not export, found by its type's name (should
// a release rename it, recorders only lose the shortcut) and by a root span of its tracer,
// which has no trace ID until a provider is set (even a provider that samples nothing
// gives one) and is not recorded (unless OpenTelemetry's eBPF instrumentation attached,
// whose spans then keep coming through the tracer).
func isUnsetGlobalTracer(tp trace.TracerProvider) bool {
	if tp != otel.GetTracerProvider() || fmt.Sprintf("%T", tp) != "*global.tracerProvider" {
		return false
	}
	_, span := tp.Tracer(ScopeName).Start(context.Background(), "probe")
	defer span.End()
	return !span.IsRecording() && !span.SpanContext().IsValid()
}

// durationBuckets returns the bucket bounds, in seconds, of OpenTelemetry's RPC and HTTP
// duration conventions (and otelgrpc's and otelhttp's), so that dashboards built for them
// read Tianshu's histograms unchanged.
func durationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
}

// durations is a duration histogram: aggregated by Tianshu when the meter provider is one
// of package metrics' (see internal/callhist), else an SDK (or any API) instrument.
type durations struct {
	inst   metric.Float64Histogram
	hist   *callhist.Instrument
	bounds []float64
}

// newDurations returns the histogram named by desc (scope, schema and bounds are this
// package's) on mp; build makes the API instrument when mp does not aggregate durations
// itself.
func newDurations(mp metric.MeterProvider, desc callhist.Desc,
	build func(metric.Meter, metric.HistogramOption) (metric.Float64Histogram, error)) *durations {
	d := &durations{bounds: durationBuckets()}
	if p, ok := mp.(callhist.Provider); ok {
		desc.Scope, desc.SchemaURL, desc.Bounds = ScopeName, semconv.SchemaURL, d.bounds
		d.hist = p.CallDurations().Instrument(desc)
		d.inst = noop.Float64Histogram{}
		return d
	}
	meter := mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	inst, err := build(meter, metric.WithExplicitBucketBoundaries(d.bounds...))
	if err != nil {
		otel.Handle(err)
	}
	if inst == nil {
		inst = noop.Float64Histogram{}
	}
	d.inst = inst
	return d
}

// on says whether a duration would be recorded now: recorders skip the clock otherwise.
func (d *durations) on(ctx context.Context) bool { return d.hist != nil || d.inst.Enabled(ctx) }

// series is how one attribute set is recorded, found once when a recorder builds its
// caches.
type series struct {
	opts []metric.RecordOption
	s    *callhist.Series
}

func (d *durations) series(set attribute.Set) series {
	if d.hist != nil {
		return series{s: d.hist.Series(set)}
	}
	return series{opts: []metric.RecordOption{metric.WithAttributeSet(set)}}
}

// record records secs in s; a sampled span's measurement may become its bucket's
// exemplar.
func (d *durations) record(ctx context.Context, s series, secs float64, sc trace.SpanContext) {
	if s.s != nil {
		i := callhist.Bucket(d.bounds, secs)
		if sc.IsSampled() {
			s.s.RecordExemplar(secs, i, sc)
		} else {
			s.s.Record(secs, i)
		}
		return
	}
	if d.inst.Enabled(ctx) {
		d.inst.Record(ctx, secs, s.opts...)
	}
}
