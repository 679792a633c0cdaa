package telemetry

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// At 1% sampling, 99 calls in 100 record nothing, yet the SDK still builds a span for each:
// a sampler call, a span object and a context for it, on both sides of the call. That work
// was most of what tracing cost an echo call (BenchmarkEcho). A tracer provider that tells
// the handlers its sampling rule (a HeadSampledProvider, as tracing.NewTracerProvider and
// tracing.Setup build with their default sampler) lets them decide themselves, exactly as
// the SDK would, and keep a dropped call's span inside the call's own state. Sampled calls
// still go through the SDK. This file holds only what the call path needs, on
// OpenTelemetry's API: the SDK side of the agreement (the provider) lives in tracing, so
// that the handlers link no SDK.

// HeadSampledProvider is a tracer provider whose sampling rule the handlers may apply
// themselves. HeadSampler returns nil when the provider samples some other way.
type HeadSampledProvider interface {
	trace.TracerProvider
	HeadSampler() *HeadSampler
}

// HeadSampler makes the decisions of sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r))
// with its default delegates: a call with a parent follows the parent's sampled flag; a root
// is sampled when the upper bits of its trace ID fall under the ratio's bound. It is only
// exact for a provider that samples that way and generates IDs with IDGenerator, which
// gives a sampled call's span the IDs the decision was made on.
type HeadSampler struct {
	bound uint64
	tp    trace.TracerProvider
}

// NewHeadSampler returns the rule of a parent-based ratio sampler for tp, the provider
// whose HeadSampler method returns it (dropped spans name it as theirs). A ratio of 0 or
// less (or NaN) samples no root, 1 or more every root.
func NewHeadSampler(ratio float64, tp trace.TracerProvider) *HeadSampler {
	h := &HeadSampler{tp: tp}
	switch {
	case ratio >= 1:
		h.bound = ^uint64(0) // above every 63-bit value: always sampled
	case ratio > 0:
		h.bound = uint64(ratio * (1 << 63))
	}
	return h
}

// decision is what HeadSampler.decide chose for a span.
type decision struct {
	sc      trace.SpanContext // the new span's context
	sampled bool
}

// decide returns the context of a new span under parent (which may be invalid, for a root)
// and whether it is sampled, as the SDK's newSpan and ParentBased sampler would.
func (h *HeadSampler) decide(parent trace.SpanContext) decision {
	tid := parent.TraceID()
	var sid trace.SpanID
	if tid.IsValid() {
		sid = newSpanID()
	} else {
		tid, sid = newTraceID(), newSpanID()
	}
	var sampled bool
	if parent.IsValid() {
		sampled = parent.IsSampled()
	} else {
		sampled = binary.BigEndian.Uint64(tid[8:16])>>1 < h.bound
	}
	flags := parent.TraceFlags() &^ trace.FlagsSampled
	if sampled {
		flags |= trace.FlagsSampled
	}
	return decision{
		sc: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: sid, TraceFlags: flags, TraceState: parent.TraceState(),
		}),
		sampled: sampled,
	}
}

// withIDs returns ctx carrying the IDs d was decided on, for the SDK to give the span it
// starts for a sampled call, so that the SDK's own sampler sees the same trace ID.
func (d decision) withIDs(ctx context.Context) context.Context {
	return context.WithValue(ctx, presetIDsKey{}, &presetIDs{tid: d.sc.TraceID(), sid: d.sc.SpanID()})
}

// presetIDs are the IDs a handler drew for a sampled call. They are used once: the span
// the SDK starts takes them, and spans started later under the same context get new ones.
type presetIDs struct {
	tid  trace.TraceID
	sid  trace.SpanID
	used atomic.Bool
}

type presetIDsKey struct{}

func takePreset(ctx context.Context) *presetIDs {
	p, _ := ctx.Value(presetIDsKey{}).(*presetIDs)
	if p == nil || !p.used.CompareAndSwap(false, true) {
		return nil
	}
	return p
}

// IDGenerator is an sdktrace.IDGenerator (pass it to sdktrace.WithIDGenerator) for
// providers whose HeadSampler the handlers use: it gives the span the SDK starts for a
// sampled call the IDs the handler decided on, and otherwise random IDs from the runtime's
// per-thread generator (the SDK's default takes a lock per span). Trace IDs need to be
// unique, not secret.
type IDGenerator struct{}

// NewIDs returns the IDs a handler preset in ctx, else new random ones.
func (IDGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if p := takePreset(ctx); p != nil {
		return p.tid, p.sid
	}
	return newTraceID(), newSpanID()
}

// NewSpanID returns the span ID a handler preset in ctx for trace tid, else a new random one.
func (IDGenerator) NewSpanID(ctx context.Context, tid trace.TraceID) trace.SpanID {
	if p := takePreset(ctx); p != nil && p.tid == tid {
		return p.sid
	}
	return newSpanID()
}

func newTraceID() trace.TraceID {
	var t trace.TraceID
	for !t.IsValid() {
		binary.BigEndian.PutUint64(t[:8], rand.Uint64())
		binary.BigEndian.PutUint64(t[8:], rand.Uint64())
	}
	return t
}

func newSpanID() trace.SpanID {
	var s trace.SpanID
	for !s.IsValid() {
		binary.BigEndian.PutUint64(s[:], rand.Uint64())
	}
	return s
}

// droppedSpan is the span of a call the sampler dropped: what the SDK's non-recording span
// is (a span context and its provider), kept inside the call's state so that it costs no
// allocation of its own.
type droppedSpan struct {
	embedded.Span
	sc trace.SpanContext
	tp trace.TracerProvider
}

// SpanContext returns the dropped span's context, which callees still receive.
func (s *droppedSpan) SpanContext() trace.SpanContext { return s.sc }

// TracerProvider returns the provider that dropped the span.
func (s *droppedSpan) TracerProvider() trace.TracerProvider { return s.tp }

// IsRecording returns false: a dropped span records nothing.
func (*droppedSpan) IsRecording() bool { return false }

// End does nothing.
func (*droppedSpan) End(...trace.SpanEndOption) {}

// AddEvent does nothing.
func (*droppedSpan) AddEvent(string, ...trace.EventOption) {}

// AddLink does nothing.
func (*droppedSpan) AddLink(trace.Link) {}

// RecordError does nothing.
func (*droppedSpan) RecordError(error, ...trace.EventOption) {}

// SetStatus does nothing.
func (*droppedSpan) SetStatus(codes.Code, string) {}

// SetName does nothing.
func (*droppedSpan) SetName(string) {}

// SetAttributes does nothing.
func (*droppedSpan) SetAttributes(...attribute.KeyValue) {}

// spanKey is the context key under which the trace package keeps the current span, so that
// a call's context can answer for its span without a context.WithValue layer. It is found
// by watching trace.SpanFromContext look it up, and checked; nil if that ever fails, and
// the handlers then wrap the context as trace.ContextWithSpan does.
var spanKey = findSpanKey()

func findSpanKey() any {
	p := &keyProbe{Context: context.Background()}
	trace.SpanFromContext(p)
	if len(p.keys) != 1 {
		return nil
	}
	s := &droppedSpan{}
	if trace.SpanFromContext(&oneValue{Context: context.Background(), key: p.keys[0], val: s}) != trace.Span(s) {
		return nil
	}
	return p.keys[0]
}

// keyProbe records the keys it is asked for.
type keyProbe struct {
	context.Context
	keys []any
}

func (p *keyProbe) Value(key any) any {
	p.keys = append(p.keys, key)
	return nil
}

// oneValue answers one key, as context.WithValue does, without its checks.
type oneValue struct {
	context.Context
	key, val any
}

func (c *oneValue) Value(key any) any {
	if key == c.key {
		return c.val
	}
	return c.Context.Value(key)
}
