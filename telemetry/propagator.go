package telemetry

import (
	"context"
	"encoding/hex"

	b3prop "go.opentelemetry.io/contrib/propagators/b3"
	jaegerprop "go.opentelemetry.io/contrib/propagators/jaeger"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Header names of the formats Propagator speaks.
const (
	headerTraceparent = "traceparent"
	headerTracestate  = "tracestate"
	headerBaggage     = "baggage"
	headerB3          = "b3"
	headerB3TraceID   = "x-b3-traceid"
	headerB3SpanID    = "x-b3-spanid"
	headerB3Sampled   = "x-b3-sampled"
	headerUberTraceID = "uber-trace-id"
)

// Format is a span-context header format Propagator can write.
type Format uint8

// Formats Propagator writes besides W3C traceparent.
const (
	// FormatB3 writes Zipkin's B3 headers, both the single b3 header and the x-b3-* set.
	FormatB3 Format = 1 << iota
	// FormatJaeger writes Jaeger's uber-trace-id, as github.com/uber/jaeger-client-go
	// services read it.
	FormatJaeger
)

// formatsKey marks a context whose span context arrived in a non-W3C format, so that calls
// made under it answer in the same format.
type formatsKey struct{}

// multiFormat reads W3C Trace Context, B3 and Jaeger headers, and writes W3C plus the formats
// configured or seen upstream, and W3C Baggage.
type multiFormat struct {
	always Format
	tc     propagation.TraceContext
	bag    propagation.Baggage
	b3     propagation.TextMapPropagator
	jaeger jaegerprop.Jaeger
}

// Propagator returns the propagator Tianshu installs with Setup, so that Tianshu services
// share traces with W3C-speaking services (OpenTelemetry SDKs), Zipkin/Brave services (B3)
// and services still on github.com/uber/jaeger-client-go (uber-trace-id).
//
// Extract takes the span context from the first format present, in the order W3C
// traceparent, B3 (single b3 header, else the x-b3-* headers), uber-trace-id, and W3C
// baggage in any case. Jaeger's uberctx-* baggage is not carried.
//
// Inject writes traceparent (and tracestate and baggage when there are some), plus the
// formats in always, plus the format the current trace arrived in: a request that came
// from a jaeger-client-go service carries uber-trace-id on to the services this one calls,
// so a chain of legacy and Tianshu services stays one trace. Name FormatJaeger or FormatB3
// in always when this service starts traces that legacy services must join.
//
// Every header costs several allocations in grpc-go on both sides of each call (metadata
// copies for stats handlers, HPACK), which is why the legacy formats are written only when
// asked for. A request is parsed once rather than once per format, and all span headers
// written come from a single allocation.
func Propagator(always ...Format) propagation.TextMapPropagator {
	// A pointer, so that a recorder that finds it behind the global propagator reaches it
	// without copying it out of the interface to the heap on every call.
	p := &multiFormat{b3: b3prop.New()}
	for _, f := range always {
		p.always |= f
	}
	return p
}

// Fields returns the headers Inject may set.
func (*multiFormat) Fields() []string {
	return []string{headerTraceparent, headerTracestate, headerBaggage, headerB3, headerB3TraceID,
		headerB3SpanID, headerB3Sampled, headerUberTraceID}
}

// Extract returns ctx with the remote span context and baggage found in carrier.
func (p *multiFormat) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	ctx = p.bag.Extract(ctx, carrier)
	if carrier.Get(headerTraceparent) != "" {
		if out := p.tc.Extract(ctx, carrier); trace.SpanContextFromContext(out).IsRemote() {
			return out
		}
	}
	if carrier.Get(headerB3) != "" || carrier.Get(headerB3TraceID) != "" {
		if out := p.b3.Extract(ctx, carrier); trace.SpanContextFromContext(out).IsRemote() {
			return context.WithValue(out, formatsKey{}, FormatB3)
		}
	}
	if carrier.Get(headerUberTraceID) != "" {
		if out := p.jaeger.Extract(ctx, carrier); trace.SpanContextFromContext(out).IsRemote() {
			return context.WithValue(out, formatsKey{}, FormatJaeger)
		}
	}
	return ctx
}

// Layout of the one string that holds every span header Inject writes; the headers are
// substrings of it.
const (
	tpStart   = 0            // 00-<trace>-<span>-<flags>
	tpEnd     = tpStart + 55 //
	b3Start   = tpEnd        // <trace>-<span>-<0|1>
	b3End     = b3Start + 32 + 1 + 16 + 1 + 1
	uberStart = b3End // <trace>:<span>:0:<0|1>
	uberEnd   = uberStart + 32 + 1 + 16 + 3 + 1
)

// Inject writes the span context and baggage of ctx into carrier.
func (p *multiFormat) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	p.bag.Inject(ctx, carrier)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	if ts := sc.TraceState().String(); ts != "" {
		carrier.Set(headerTracestate, ts)
	}
	formats := p.always
	if f, ok := ctx.Value(formatsKey{}).(Format); ok {
		formats |= f
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	// Only the flags W3C defines (sampled, random) travel, as the reference propagator does.
	flags := byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))
	sampled := byte('0')
	if sc.IsSampled() {
		sampled = '1'
	}
	// The digits are encoded in place: hex.AppendEncode would check the capacity of a
	// buffer whose size is known, three times a call.
	var buf [uberEnd]byte
	copy(buf[:], "00-")
	hex.Encode(buf[3:35], tid[:])
	buf[35] = '-'
	hex.Encode(buf[36:52], sid[:])
	buf[52] = '-'
	hex.Encode(buf[53:tpEnd], []byte{flags})
	b := buf[:tpEnd]
	if formats != 0 { // the legacy formats reuse the digits already written
		b = append(b, buf[tpStart+3:tpStart+3+32+1+16]...) // <trace>-<span>
		b = append(b, '-', sampled)
		b = append(b, buf[tpStart+3:tpStart+3+32]...)
		b = append(b, ':')
		b = append(b, buf[tpStart+3+33:tpStart+3+33+16]...)
		b = append(b, ':', '0', ':', sampled)
	}
	s := string(b)
	carrier.Set(headerTraceparent, s[tpStart:tpEnd])
	if formats&FormatB3 != 0 {
		carrier.Set(headerB3, s[b3Start:b3End])
		carrier.Set(headerB3TraceID, s[b3Start:b3Start+32])
		carrier.Set(headerB3SpanID, s[b3Start+33:b3Start+33+16])
		carrier.Set(headerB3Sampled, s[b3End-1:b3End])
	}
	if formats&FormatJaeger != 0 {
		carrier.Set(headerUberTraceID, s[uberStart:uberEnd])
	}
}

// quickExtract is Extract for the common request, which carries a version-00 traceparent
// and no tracestate, or no span headers at all: it returns ctx with the request's baggage,
// and the caller's span context (remote; invalid when there is none) without putting it in
// the context. ok is false for any other request, which Extract must read.
func (p *multiFormat) quickExtract(ctx context.Context, carrier propagation.TextMapCarrier) (_ context.Context, parent trace.SpanContext, ok bool) {
	if tp := carrier.Get(headerTraceparent); tp != "" {
		if parent, ok = parseTraceparent(tp); !ok || carrier.Get(headerTracestate) != "" {
			return ctx, trace.SpanContext{}, false
		}
	} else if carrier.Get(headerB3) != "" || carrier.Get(headerB3TraceID) != "" || carrier.Get(headerUberTraceID) != "" {
		return ctx, trace.SpanContext{}, false
	}
	return p.bag.Extract(ctx, carrier), parent, true
}

// parseTraceparent reads a well-formed version-00 traceparent as W3C Trace Context and
// OpenTelemetry's TraceContext read it: lower-case hex, no reserved flags, IDs not all
// zero. Other versions are left to TraceContext.
func parseTraceparent(s string) (trace.SpanContext, bool) {
	if len(s) != tpEnd || s[:3] != "00-" || s[35] != '-' || s[52] != '-' {
		return trace.SpanContext{}, false
	}
	var c trace.SpanContextConfig
	var flags [1]byte
	if !unhex(c.TraceID[:], s[3:35]) || !unhex(c.SpanID[:], s[36:52]) || !unhex(flags[:], s[53:55]) || flags[0] > 3 {
		return trace.SpanContext{}, false
	}
	c.TraceFlags = trace.TraceFlags(flags[0]) & (trace.FlagsSampled | trace.FlagsRandom)
	c.Remote = true
	sc := trace.NewSpanContext(c)
	return sc, sc.IsValid()
}

// unhex decodes lower-case hex src into dst, which is half its length. It reads every digit
// through one table and checks them all once at the end: a traceparent carries 50 digits,
// and a branch per digit was most of what parsing one cost.
func unhex(dst []byte, src string) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	var bad byte
	for i := range dst {
		hi, lo := hexValue[src[2*i]], hexValue[src[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo
	}
	return bad&^0x0f == 0
}

// hexValue maps a lower-case hex digit to its value and every other byte to 0xff, a value
// unhex cannot mistake for a digit's. It is written once, when the package loads.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range []byte("0123456789abcdef") {
		t[c] = byte(i)
	}
	return t
}()
