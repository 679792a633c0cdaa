package telemetry

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
)

// call is the per-call state. It is also the context the handler returns from TagRPC, so
// that one allocation carries both; Value finds it again in HandleRPC.
type call struct {
	context.Context
	m     *method
	span  trace.Span
	addr  atomic.Pointer[addrEntry] // client: set when a transport is chosen
	begun atomic.Bool
	// dropped is the span of a call the handler's sampling rule dropped; inline says the
	// call's context answers trace.SpanFromContext with it.
	dropped droppedSpan
	inline  bool
	kv      []string
	kvBuf   [4]string // outgoing headers: enough for traceparent and tracestate

	lastKey, lastVal string // incoming: the last header read
}

type callKey struct{}

// Value returns the call itself for callKey and defers to the parent otherwise.
func (c *call) Value(key any) any {
	if _, ok := key.(callKey); ok {
		return c
	}
	if c.inline && key == spanKey {
		return c.span
	}
	return c.Context.Value(key)
}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// incoming reads a server call's request headers for the propagator.
type incoming call

// Get returns the first value of key in the incoming metadata. Propagators tend to ask for
// the same header twice (to choose a format, then to parse it); the last answer is kept,
// since each lookup copies.
func (c *incoming) Get(key string) string {
	if key == c.lastKey {
		return c.lastVal
	}
	v := ""
	if vs := metadata.ValueFromIncomingContext(c.Context, key); len(vs) > 0 {
		v = vs[0]
	}
	c.lastKey, c.lastVal = key, v
	return v
}

// Set is not used on incoming headers.
func (*incoming) Set(string, string) {}

// Keys returns the incoming metadata keys; propagators rarely need them.
func (c *incoming) Keys() []string {
	md, _ := metadata.FromIncomingContext(c.Context)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	return keys
}

// outgoing collects a client call's headers from the propagator.
type outgoing call

// Get is not used on outgoing headers.
func (*outgoing) Get(string) string { return "" }

// Set adds a header to send.
func (c *outgoing) Set(key, value string) { c.kv = append(c.kv, key, value) }

// Keys returns the header names set so far.
func (c *outgoing) Keys() []string {
	keys := make([]string, 0, len(c.kv)/2)
	for i := 0; i < len(c.kv); i += 2 {
		keys = append(keys, c.kv[i])
	}
	return keys
}
