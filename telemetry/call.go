package telemetry

import (
	"context"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
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

	// incoming: the request's metadata, read once (see incoming.headers)
	md        metadata.MD
	mdRead    bool
	wire      bool // the call came through a grpc-go server transport, and md with it
	mixed     bool // md may have a name with an upper-case or non-ASCII letter
	mixedRead bool
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

// Get returns the first value of key in the incoming metadata, as
// metadata.ValueFromIncomingContext would, without its copy of the value: the propagator
// asks for three headers a call (traceparent, tracestate, baggage), and each lookup through
// grpc-go walked the context, copied, and scanned the whole map for an absent header.
func (c *incoming) Get(key string) string {
	md := c.headers()
	if vs, ok := md[key]; ok {
		return first(vs)
	}
	// A context made with metadata.NewIncomingContext may hold names in any case, which
	// grpc-go's lookup matches; its transports hand a server lower-case names only (HTTP/2
	// refuses others, and its net/http handler lowers them). Most lookups miss (tracestate,
	// baggage, the legacy formats), and a scan of the map for each cost more than the rest
	// of the call's telemetry. So a call that came through a transport is not scanned at all,
	// and another is checked once for a name with an upper-case or non-ASCII letter: two
	// names without one match in any case only if equal.
	if !c.mixedRead {
		c.mixed = !c.wire && hasUpperKey(md)
		c.mixedRead = true
	}
	if c.mixed || hasUpper(key) {
		for k, vs := range md {
			if strings.EqualFold(k, key) {
				return first(vs)
			}
		}
	}
	return ""
}

// hasUpperKey says whether a name in md has an upper-case or non-ASCII letter (some of
// which strings.EqualFold matches to ASCII ones, as the Kelvin sign to k).
func hasUpperKey(md metadata.MD) bool {
	for k := range md {
		if hasUpper(k) {
			return true
		}
	}
	return false
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' || c >= 0x80 {
			return true
		}
	}
	return false
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// headers returns the incoming metadata, found once per call and only read: the map
// grpc-go keeps in the context when the key is known (see incomingKey), else a copy.
func (c *incoming) headers() metadata.MD {
	if !c.mdRead {
		if incomingKey != nil {
			c.md, _ = c.Context.Value(incomingKey).(metadata.MD)
		} else {
			c.md, _ = metadata.FromIncomingContext(c.Context)
		}
		// grpc-go's server puts the stream beside the metadata its transport read; an
		// interceptor called by hand, as in tests, has none.
		c.wire = grpc.ServerTransportStreamFromContext(c.Context) != nil
		c.mdRead = true
	}
	return c.md
}

// Set is not used on incoming headers.
func (*incoming) Set(string, string) {}

// Keys returns the incoming metadata keys; propagators rarely need them.
func (c *incoming) Keys() []string {
	md := c.headers()
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	return keys
}

// incomingKey is the context key under which grpc-go keeps a server call's request
// metadata, so that a call reads the map once instead of copying header by header. It is
// found by watching metadata.FromIncomingContext look it up, and checked; nil if that ever
// fails, and calls then take metadata.FromIncomingContext's copy once.
var incomingKey = findIncomingKey()

func findIncomingKey() any {
	p := &keyProbe{Context: context.Background()}
	metadata.FromIncomingContext(p)
	if len(p.keys) != 1 {
		return nil
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-tianshu-probe", "1"))
	if md, ok := ctx.Value(p.keys[0]).(metadata.MD); !ok || first(md["x-tianshu-probe"]) != "1" {
		return nil
	}
	return p.keys[0]
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
