package telemetry

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/tianshu-go/tianshu/internal/stripe"
)

// Bounds on the per-method caches: method names arrive from the network on a server, so an
// unbounded cache would let a client grow it at will. Past the bound, calls are still
// recorded, only with their attributes built per call.
const (
	maxMethods        = 1024
	maxAddrsPerMethod = 256
	numCodes          = 17 // codes.OK .. codes.Unauthenticated
)

// method holds what is built once per full method name.
type method struct {
	name      string
	startOpts []trace.SpanStartOption
	base      []attribute.KeyValue // rpc.method, rpc.system.name
	activeOpt metric.ObserveOption
	active    *stripe.Int64 // striped: both sides of every call add to it twice
	opts      *codeOpts     // server, or client before a transport was chosen

	addrMu sync.Mutex
	addrs  atomic.Pointer[map[addrKey]*addrEntry]
	// lastTarget is the entry of the dial target of this method's last client call: a
	// client calls a method through one channel, mostly, and comparing the target's
	// string skips hashing it into addrs.
	lastTarget atomic.Pointer[addrEntry]
}

// codeOpts holds, per status code, how a duration is recorded.
type codeOpts [numCodes]series

// addrEntry is what a client records per server address.
type addrEntry struct {
	opts   *codeOpts
	attrs  []attribute.KeyValue // server.address, server.port
	target string               // the dial target it was made for, if any (see forTarget)
}

// addrKey identifies a remote address without formatting it: TCP addresses by value,
// others by their string.
type addrKey struct {
	ap netip.AddrPort
	s  string
}

func (h *Handler) newMethod(full string) *method {
	m := &method{name: full, active: stripe.NewInt64()}
	if strings.HasPrefix(full, "/") {
		m.name = full[1:]
		m.base = append(m.base, semconv.RPCMethod(m.name))
	}
	m.base = append(m.base, semconv.RPCSystemNameGRPC)
	// The attributes are set after the start, on recording spans only: passed as a start
	// option they are copied for every span, sampled or not. Samplers see the span's name
	// (the method) and kind.
	m.startOpts = []trace.SpanStartOption{trace.WithSpanKind(h.kind)}
	m.activeOpt = metric.WithAttributeSet(attribute.NewSet(m.base...))
	m.opts = h.codeOpts(m.base, nil)
	return m
}

func (h *Handler) codeOpts(base, extra []attribute.KeyValue) *codeOpts {
	var co codeOpts
	for c := range co {
		co[c] = h.dur.series(h.metricSet(base, extra, codes.Code(c)))
	}
	return &co
}

func (h *Handler) metricSet(base, extra []attribute.KeyValue, c codes.Code) attribute.Set {
	attrs := make([]attribute.KeyValue, 0, len(base)+len(extra)+2)
	attrs = append(append(attrs, base...), extra...)
	attrs = append(attrs, semconv.RPCResponseStatusCode(codeName(c)))
	if c != codes.OK && h.isError(c) {
		attrs = append(attrs, semconv.ErrorTypeKey.String(codeName(c)))
	}
	return attribute.NewSet(attrs...)
}

func (m *method) forAddr(h *Handler, a net.Addr) *addrEntry {
	var k addrKey
	if t, ok := a.(*net.TCPAddr); ok {
		k.ap = t.AddrPort()
	} else {
		k.s = a.String()
	}
	return m.entry(h, k, func() []attribute.KeyValue { return hostPortAttrs(a.String()) })
}

// entry returns the prebuilt attributes for key k, building them with attrs on a miss.
func (m *method) entry(h *Handler, k addrKey, attrs func() []attribute.KeyValue) *addrEntry {
	if mp := m.addrs.Load(); mp != nil {
		if e, ok := (*mp)[k]; ok {
			return e
		}
	}
	a := attrs()
	e := &addrEntry{opts: h.codeOpts(m.base, a), attrs: a, target: k.s}
	m.addrMu.Lock()
	defer m.addrMu.Unlock()
	old := m.addrs.Load()
	if old != nil {
		if e2, ok := (*old)[k]; ok {
			return e2
		}
		if len(*old) >= maxAddrsPerMethod {
			return e
		}
	}
	m.addrs.Store(withEntry(old, k, e))
	return e
}

// withEntry returns a copy of *old (which may be nil) with k set to v: the copy-on-write
// step of the per-method and per-address caches, read without locks.
func withEntry[K comparable, V any](old *map[K]V, k K, v V) *map[K]V {
	next := make(map[K]V, 1+len(derefMap(old)))
	for k2, v2 := range derefMap(old) {
		next[k2] = v2
	}
	next[k] = v
	return &next
}

func derefMap[K comparable, V any](m *map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	return *m
}

// hostPortAttrs returns server.address and, when the port is numeric, server.port.
func hostPortAttrs(hostport string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return []attribute.KeyValue{semconv.ServerAddress(hostport)}
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return []attribute.KeyValue{semconv.ServerAddress(host)}
	}
	return []attribute.KeyValue{semconv.ServerAddress(host), semconv.ServerPort(p)}
}

// methodTable maps full method names to their prebuilt state. Reads take no lock: the map
// is replaced, never changed, on insert.
type methodTable struct {
	mu    sync.Mutex
	m     atomic.Pointer[map[string]*method]
	build func(string) *method
}

func (t *methodTable) get(full string) *method {
	if mp := t.m.Load(); mp != nil {
		if m, ok := (*mp)[full]; ok {
			return m
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.m.Load()
	if old != nil {
		if m, ok := (*old)[full]; ok {
			return m
		}
		if len(*old) >= maxMethods {
			return t.build(full)
		}
	}
	m := t.build(full)
	t.m.Store(withEntry(old, full, m))
	return m
}
