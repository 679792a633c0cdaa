package tracing

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/rpcconv"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// ScopeName is the instrumentation scope of the spans and metrics the stats handlers record.
const ScopeName = "github.com/tianshu-go/tianshu/tracing"

// Names of the in-flight gauges, which OpenTelemetry's RPC conventions do not define.
const (
	ServerActiveCallsName = "tianshu.rpc.server.active_calls"
	ClientActiveCallsName = "tianshu.rpc.client.active_calls"
)

// Bounds on the per-method caches: method names arrive from the network on a server, so an
// unbounded cache would let a client grow it at will. Past the bound, calls are still
// recorded, only with their attributes built per call.
const (
	maxMethods       = 1024
	maxAddrsPerMethd = 256
	numCodes         = 17 // codes.OK .. codes.Unauthenticated
)

// durationBuckets returns otelgrpc's bucket bounds, in seconds, so that dashboards built for
// it read Tianshu's histograms unchanged.
func durationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
}

// HandlerOption configures NewServerHandler and NewClientHandler.
type HandlerOption func(*handlerConfig)

type handlerConfig struct {
	tp     trace.TracerProvider
	mp     metric.MeterProvider
	prop   propagation.TextMapPropagator
	filter func(fullMethod string) bool
	// noActive leaves out the in-flight gauge, whose callback lives until Close.
	noActive bool
}

// WithoutActiveCalls leaves out the in-flight gauge, so the handler registers nothing with
// the meter provider and needs no Close: for handlers whose owner has no end of life to
// call Close from, such as the one rpc.Dial makes for each connection.
func WithoutActiveCalls() HandlerOption { return func(c *handlerConfig) { c.noActive = true } }

// WithTracerProvider sets where spans go; the default is otel.GetTracerProvider() at the
// time the handler is made (which follows a later Setup).
func WithTracerProvider(tp trace.TracerProvider) HandlerOption {
	return func(c *handlerConfig) { c.tp = tp }
}

// WithMeterProvider sets where metrics go; the default is otel.GetMeterProvider(). Pass
// metrics.Prometheus's provider to expose them on /metrics.
func WithMeterProvider(mp metric.MeterProvider) HandlerOption {
	return func(c *handlerConfig) { c.mp = mp }
}

// WithTextMapPropagator sets how span contexts cross the wire; the default is
// otel.GetTextMapPropagator(), which propagates nothing until Setup (or the application)
// sets it.
func WithTextMapPropagator(p propagation.TextMapPropagator) HandlerOption {
	return func(c *handlerConfig) { c.prop = p }
}

// WithFilter records spans and metrics only for the calls whose full method name
// (/pkg.Service/Method) keep accepts; the others still propagate the caller's context.
func WithFilter(keep func(fullMethod string) bool) HandlerOption {
	return func(c *handlerConfig) { c.filter = keep }
}

// Handler records, for every call, a span named pkg.Service/Method and the
// rpc.server.call.duration or rpc.client.call.duration histogram, with the attributes,
// status mapping, units and bucket bounds of otelgrpc v0.72, and an in-flight gauge; it
// propagates span contexts through gRPC metadata. Install it either as a grpc
// stats.Handler (ServerOption, DialOption) or through its interceptors
// (UnaryServerInterceptor and the like), not both. The interceptors are the fast path:
// grpc-go's stats machinery alone costs more per call than the whole tracing budget (see
// BenchmarkEcho's empty-stats-handler case).
//
// It is built for the hot path: attribute sets are made once per method (and, on a client,
// per server address and status code), an unsampled call allocates only what the tracer
// and propagator need, and in-flight counts are plain atomics read when metrics are
// collected.
type Handler struct {
	server  bool
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	filter  func(string) bool
	dur     metric.Float64Histogram
	active  metric.Int64ObservableUpDownCounter
	reg     metric.Registration
	kind    trace.SpanKind
	methods methodTable

	globalTP  bool         // the tracer provider is OpenTelemetry's global one
	fixedHead *headSampler // the sampling rule of an explicit provider, if known
	quick     *multiFormat // prop, when it is Tianshu's: servers may read it with quickExtract
}

var _ stats.Handler = (*Handler)(nil)

// NewServerHandler returns the handler for a gRPC server: grpc.StatsHandler(h).
func NewServerHandler(opts ...HandlerOption) *Handler { return newHandler(true, opts) }

// NewClientHandler returns the handler for a gRPC client: grpc.WithStatsHandler(h).
func NewClientHandler(opts ...HandlerOption) *Handler { return newHandler(false, opts) }

// ServerOption returns grpc.StatsHandler(NewServerHandler(opts...)), for a plain
// grpc.NewServer. rpc.NewServer installs its own handler (configure it with
// rpc.WithTelemetry): given this option as well, every call would be traced twice.
func ServerOption(opts ...HandlerOption) grpc.ServerOption {
	return grpc.StatsHandler(NewServerHandler(opts...))
}

// DialOption returns grpc.WithStatsHandler(NewClientHandler(opts...)), for a plain
// grpc.NewClient. rpc.Dial installs its own handler (replace it with
// rpc.WithClientTelemetry): given this option as well, a call would carry two traceparent
// headers, and servers would take the outer span as the caller's.
func DialOption(opts ...HandlerOption) grpc.DialOption {
	return grpc.WithStatsHandler(NewClientHandler(opts...))
}

func newHandler(server bool, opts []HandlerOption) *Handler {
	c := handlerConfig{}
	for _, o := range opts {
		o(&c)
	}
	globalTP := c.tp == nil
	if globalTP {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.prop == nil {
		c.prop = otel.GetTextMapPropagator()
	}
	h := &Handler{server: server, prop: c.prop, filter: c.filter, kind: trace.SpanKindClient, globalTP: globalTP}
	if p, ok := c.tp.(*TracerProvider); ok && !globalTP {
		h.fixedHead = p.head
	}
	if mf, ok := c.prop.(multiFormat); ok {
		h.quick = &mf
	}
	if server {
		h.kind = trace.SpanKindServer
	}
	h.tracer = c.tp.Tracer(ScopeName)
	h.methods.build = h.newMethod
	meter := c.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	buckets := metric.WithExplicitBucketBoundaries(durationBuckets()...)
	activeName, activeDesc := ClientActiveCallsName, "Calls this client has started and not yet finished."
	var err error
	if server {
		var d rpcconv.ServerCallDuration
		d, err = rpcconv.NewServerCallDuration(meter, buckets)
		h.dur = d.Inst()
		activeName, activeDesc = ServerActiveCallsName, "Calls this server is handling."
	} else {
		var d rpcconv.ClientCallDuration
		d, err = rpcconv.NewClientCallDuration(meter, buckets)
		h.dur = d.Inst()
	}
	if err != nil {
		otel.Handle(err)
	}
	if h.dur == nil {
		h.dur = noop.Float64Histogram{}
	}
	if c.noActive {
		return h
	}
	h.active, err = meter.Int64ObservableUpDownCounter(activeName,
		metric.WithDescription(activeDesc), metric.WithUnit("{call}"))
	if err == nil {
		h.reg, err = meter.RegisterCallback(h.observeActive, h.active)
	}
	if err != nil {
		otel.Handle(err)
	}
	return h
}

// Close stops reporting the in-flight gauge. The handler keeps recording spans and
// durations; Close only releases what it registered with the meter provider, so call it
// when the server or connection it serves is gone.
func (h *Handler) Close() error {
	if h.reg == nil {
		return nil
	}
	return h.reg.Unregister()
}

func (h *Handler) observeActive(_ context.Context, o metric.Observer) error {
	if mp := h.methods.m.Load(); mp != nil {
		for _, m := range *mp {
			o.ObserveInt64(h.active, m.active.Load(), m.activeOpt)
		}
	}
	return nil
}

// method holds what is built once per full method name.
type method struct {
	name      string
	startOpts []trace.SpanStartOption
	base      []attribute.KeyValue // rpc.method, rpc.system.name
	activeOpt metric.ObserveOption
	active    atomic.Int64
	opts      *codeOpts // server, or client before a transport was chosen

	addrMu sync.Mutex
	addrs  atomic.Pointer[map[addrKey]*addrEntry]
}

// codeOpts holds the record options of one attribute set per status code.
type codeOpts [numCodes][]metric.RecordOption

// addrEntry is what a client records per server address.
type addrEntry struct {
	opts  *codeOpts
	attrs []attribute.KeyValue // server.address, server.port
}

// addrKey identifies a remote address without formatting it: TCP addresses by value,
// others by their string.
type addrKey struct {
	ap netip.AddrPort
	s  string
}

func (h *Handler) newMethod(full string) *method {
	m := &method{name: full}
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
		co[c] = []metric.RecordOption{metric.WithAttributeSet(h.metricSet(base, extra, codes.Code(c)))}
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

// isError says whether a call that ended with c failed from this side's point of view: a
// client counts every non-OK status, a server only those that are its own fault.
func (h *Handler) isError(c codes.Code) bool {
	if !h.server {
		return c != codes.OK
	}
	switch c {
	case codes.Unknown, codes.DeadlineExceeded, codes.Unimplemented, codes.Internal,
		codes.Unavailable, codes.DataLoss:
		return true
	}
	return false
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
	e := &addrEntry{opts: h.codeOpts(m.base, a), attrs: a}
	m.addrMu.Lock()
	defer m.addrMu.Unlock()
	old := m.addrs.Load()
	if old != nil {
		if e2, ok := (*old)[k]; ok {
			return e2
		}
		if len(*old) >= maxAddrsPerMethd {
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

// TagRPC starts the call's span: on a server as a child of the caller's propagated span,
// on a client as a child of the span in ctx, whose context it then writes into the
// outgoing metadata.
func (h *Handler) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	if h.server {
		_, ctx = h.beginServer(ctx, info.FullMethodName)
	} else {
		_, ctx = h.beginClient(ctx, info.FullMethodName)
	}
	return ctx
}

// HandleRPC records the call's end: span status and attributes, the duration histogram
// and the in-flight count.
func (h *Handler) HandleRPC(ctx context.Context, rs stats.RPCStats) {
	switch rs := rs.(type) {
	case *stats.Begin:
		if c := callFrom(ctx); c != nil {
			c.begun.Store(true)
			c.m.active.Add(1)
		}
	case *stats.InHeader:
		if !rs.Client && rs.LocalAddr != nil {
			if c := callFrom(ctx); c != nil && c.span.IsRecording() {
				c.span.SetAttributes(hostPortAttrs(rs.LocalAddr.String())...)
			}
		}
	case *stats.OutHeader:
		if rs.Client && rs.RemoteAddr != nil {
			if c := callFrom(ctx); c != nil {
				e := c.m.forAddr(h, rs.RemoteAddr)
				c.addr.Store(e)
				if c.span.IsRecording() {
					c.span.SetAttributes(e.attrs...)
				}
			}
		}
	case *stats.End:
		if c := callFrom(ctx); c != nil {
			h.endCall(ctx, c, rs.Error, rs.BeginTime, rs.EndTime)
		}
	}
}

func (h *Handler) endCall(ctx context.Context, c *call, err error, begin, end time.Time) {
	code := codes.OK
	var st *status.Status
	if err != nil {
		st, _ = status.FromError(err)
		code = st.Code()
	}
	if c.span.IsRecording() {
		if st != nil && h.isError(code) {
			c.span.SetStatus(otelcodes.Error, st.Message())
		}
		c.span.SetAttributes(semconv.RPCResponseStatusCode(codeName(code)))
		c.span.End()
	}
	if c.begun.Load() {
		c.m.active.Add(-1)
	}
	if !h.dur.Enabled(ctx) {
		return
	}
	co := c.m.opts
	var extra []attribute.KeyValue
	if e := c.addr.Load(); e != nil {
		co, extra = e.opts, e.attrs
	}
	secs := float64(end.Sub(begin)) / 1e9
	if int(code) < numCodes {
		h.dur.Record(ctx, secs, co[code]...)
		return
	}
	h.dur.Record(ctx, secs, metric.WithAttributeSet(h.metricSet(c.m.base, extra, code)))
}

// TagConn returns ctx: connections are not traced.
func (*Handler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

// HandleConn does nothing: connections are not traced.
func (*Handler) HandleConn(context.Context, stats.ConnStats) {}

// codeName returns the canonical upper-case name of a status code, as the RPC semantic
// conventions spell it ("OK", "CANCELLED", "DEADLINE_EXCEEDED").
func codeName(c codes.Code) string {
	switch c {
	case codes.OK:
		return "OK"
	case codes.Canceled:
		return "CANCELLED"
	case codes.Unknown:
		return "UNKNOWN"
	case codes.InvalidArgument:
		return "INVALID_ARGUMENT"
	case codes.DeadlineExceeded:
		return "DEADLINE_EXCEEDED"
	case codes.NotFound:
		return "NOT_FOUND"
	case codes.AlreadyExists:
		return "ALREADY_EXISTS"
	case codes.PermissionDenied:
		return "PERMISSION_DENIED"
	case codes.ResourceExhausted:
		return "RESOURCE_EXHAUSTED"
	case codes.FailedPrecondition:
		return "FAILED_PRECONDITION"
	case codes.Aborted:
		return "ABORTED"
	case codes.OutOfRange:
		return "OUT_OF_RANGE"
	case codes.Unimplemented:
		return "UNIMPLEMENTED"
	case codes.Internal:
		return "INTERNAL"
	case codes.Unavailable:
		return "UNAVAILABLE"
	case codes.DataLoss:
		return "DATA_LOSS"
	case codes.Unauthenticated:
		return "UNAUTHENTICATED"
	}
	return "CODE(" + strconv.FormatInt(int64(c), 10) + ")"
}
