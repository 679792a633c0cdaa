package gateway

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc/httperr"
	"github.com/tianshu-go/tianshu/telemetry"
)

// Defaults of the gateway.
const (
	// DefaultDrain is how long an upstream no route uses any more keeps its connections
	// after a change, so that requests still running on the previous table finish, and
	// how long the streams of a removed route (WebSocket and other upgraded connections,
	// gRPC calls) stay open before they are closed.
	DefaultDrain = time.Minute
	// DefaultReadHeaderTimeout closes a connection that has not sent its headers in time
	// (slowloris); DefaultMaxHeaderBytes bounds the headers (431 above).
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
)

// Middleware wraps the forwarding of one route's requests to its upstream, after the
// gateway's own middleware (CORS, body limit, authentication, rate limits, rewrite,
// timeout). It is called once per route each time a route set is put in force, with the
// route's name; the handler it returns serves that route's requests from any goroutine.
type Middleware func(route string, next http.Handler) http.Handler

// Option configures New. A value that cannot work makes New fail with ErrOption.
type Option func(*options) error

type options struct {
	disc       registry.Discovery
	log        *slog.Logger
	access     *slog.Logger
	sample     float64
	server     *telemetry.HTTPServer
	client     *telemetry.HTTPClient
	noTel      bool
	drain      time.Duration
	middleware []Middleware
	base       *http.Transport
	onError    func(error)
	tc         transcodeOptions // transcode.go
}

// WithDiscovery sets the registry that targets naming a service are resolved through.
// Without it only URL targets are accepted.
func WithDiscovery(d registry.Discovery) Option {
	return func(o *options) error {
		if d == nil {
			return fmt.Errorf("%w: WithDiscovery(nil): pass a registry, or leave the option out", ErrOption)
		}
		o.disc = d
		return nil
	}
}

// WithLogger sets where the gateway logs failures (with the error under "err"); the
// default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil)", ErrOption)
		}
		o.log = l
		return nil
	}
}

// WithAccessLog logs a share sample (0 to 1) of requests to l, one record per request
// with route, method, host, path, status, bytes, duration and remote address; answers of
// 500 and above are always logged, with the upstream's error under "err" when it did not
// answer. Give l a JSON handler for log shippers: slog.New(slog.NewJSONHandler(w,
// nil)).
func WithAccessLog(l *slog.Logger, sample float64) Option {
	return func(o *options) error {
		if l == nil || sample < 0 || sample > 1 {
			return fmt.Errorf("%w: WithAccessLog(%v, %v): want a logger and a share from 0 to 1", ErrOption, l, sample)
		}
		o.access, o.sample = l, sample
		return nil
	}
}

// WithTelemetry records a server span and duration per request with s (named and
// labelled after the route's path, "GET /orders/{id}", as http.route, so that metrics are
// per route) and a client span and duration per attempt upstream with c (labelled with the
// upstream's service).
// The default records through OpenTelemetry's global providers.
func WithTelemetry(s *telemetry.HTTPServer, c *telemetry.HTTPClient) Option {
	return func(o *options) error {
		if s == nil || c == nil {
			return fmt.Errorf("%w: WithTelemetry needs both recorders", ErrOption)
		}
		o.server, o.client = s, c
		return nil
	}
}

// WithoutTelemetry records no spans or metrics and propagates no trace context.
func WithoutTelemetry() Option {
	return func(o *options) error { o.noTel = true; return nil }
}

// WithDrain sets how long an upstream that no route uses any more stays open, and how
// long a removed route's streams (upgraded connections, gRPC calls) are let run before
// they are closed; see DefaultDrain. With 0 they close at the change.
func WithDrain(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: WithDrain(%v): want 0 or more", ErrOption, d)
		}
		o.drain = d
		return nil
	}
}

// WithMiddleware adds middleware to every route, the first given outermost.
func WithMiddleware(m ...Middleware) Option {
	return func(o *options) error {
		for _, f := range m {
			if f == nil {
				return fmt.Errorf("%w: WithMiddleware(nil)", ErrOption)
			}
		}
		o.middleware = append(o.middleware, m...)
		return nil
	}
}

// WithUpstreamTransport sets the transport upstream connections are made from (TLS,
// timeouts, pool sizes); see rest.WithInstanceTransport. The default is a clone of
// http.DefaultTransport keeping 256 idle connections per upstream instance.
func WithUpstreamTransport(t *http.Transport) Option {
	return func(o *options) error {
		if t == nil {
			return fmt.Errorf("%w: WithUpstreamTransport(nil)", ErrOption)
		}
		o.base = t
		return nil
	}
}

// WithErrorHandler has fn receive every route set Watch rejects, once per distinct error,
// beside the log. fn must not block for long.
func WithErrorHandler(fn func(error)) Option {
	return func(o *options) error {
		if fn == nil {
			return fmt.Errorf("%w: WithErrorHandler(nil)", ErrOption)
		}
		o.onError = fn
		return nil
	}
}

// Gateway is an http.Handler that routes each request by the route table in force and
// forwards it through the route's middleware to its upstream. A table is put in force
// whole by Apply (or by Watch, from config sources): a request is served to its end on the
// table it started with, and no connection is closed by a change. The one exception is
// what would otherwise outlive its route for good: an upgraded connection (WebSocket) or
// a gRPC call whose route is no longer in the table (by name) is closed the drain time
// (WithDrain) after the change that removed the route, if it has not ended by then; a gRPC
// call so cut after its answer began ends with status UNAVAILABLE, "route <name> was
// removed from the gateway".
//
// Every answer the gateway gives itself (no route, refused, upstream unavailable) is
// rpc/httperr's JSON body, or for gRPC requests a gRPC status in the trailers:
//
//   - 400 INVALID_ARGUMENT: a path with an encoded slash (%2F) or a backslash (%5C or
//     literal), which would match one route here and mean another path to an upstream
//     that decodes it or takes \ for /, or a malformed chunked body;
//   - 404 NOT_FOUND: no route matches;
//   - 401 UNAUTHENTICATED, 403 PERMISSION_DENIED (a CORS origin not allowed);
//   - 413 RESOURCE_EXHAUSTED: the body is over the route's limit;
//   - 429 RESOURCE_EXHAUSTED: a rate limit;
//   - 502 UNAVAILABLE: the upstream failed; 503 UNAVAILABLE: no instance, or its breaker is
//     open; 504 DEADLINE_EXCEEDED: the route's timeout;
//   - 502 RESOURCE_EXHAUSTED: the upstream's Content-Length is over the route's
//     MaxResponseBytes. A response that grows past it once streaming has begun is cut
//     instead: the HTTP/1 connection closed, the HTTP/2 stream reset, and a record logged
//     per route at most once a minute with the count of cuts.
//
// Paths are cleaned before matching (RFC 3986's dot segments, repeated slashes), and the
// cleaned path is what goes upstream, so "/public/../admin" is "/admin" for routing and
// for the upstream alike. A chunked HTTP/1 request closes its connection after its answer,
// as RFC 9112 asks when it also carried a Content-Length (which net/http hides): bytes
// that Content-Length would have counted as its body are never read as a request.
type Gateway struct {
	opts   options
	table  atomic.Pointer[table]
	pool   *pool
	live   *streams
	mu     sync.Mutex // serialises Apply
	gen    uint64
	log    *slog.Logger
	errLog *log.Logger
	stop   func() error // Watch's
	closed bool
}

// New returns a gateway with no routes (every request 404) until Apply or Watch.
func New(opts ...Option) (*Gateway, error) {
	o := options{log: slog.Default(), drain: DefaultDrain}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: a nil Option", ErrOption)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.noTel {
		o.server, o.client = nil, nil
	} else if o.server == nil {
		o.server, o.client = telemetry.NewHTTPServer(), telemetry.NewHTTPClient()
	}
	if o.base == nil {
		o.base = http.DefaultTransport.(*http.Transport).Clone()
		o.base.MaxIdleConnsPerHost = 256
		o.base.MaxIdleConns = 0
	}
	g := &Gateway{opts: o, log: o.log, errLog: slog.NewLogLogger(o.log.Handler(), slog.LevelDebug)}
	client := o.client
	if client == nil {
		client = telemetry.NewHTTPClient(telemetry.WithFilter(func(string) bool { return false }))
	}
	g.pool = newPool(o.disc, client, o.log, o.drain, o.base)
	g.pool.tc = o.tc
	g.pool.tc.noTel = o.noTel
	if g.pool.tc.files == nil {
		g.pool.tc.files = protoregistry.GlobalFiles
	}
	g.live = newStreams(o.drain)
	g.table.Store(&table{})
	g.table.Load().index()
	return g, nil
}

// Apply validates c whole and puts it in force atomically; on error nothing changes.
func (g *Gateway) Apply(c *Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return fmt.Errorf("%w: the gateway is closed", ErrOption)
	}
	inUse := map[string]bool{}
	t := &table{cfg: c, gen: g.gen + 1}
	for i := range c.Routes {
		rt, err := g.compileRoute(i, &c.Routes[i], inUse)
		if err != nil {
			// Retire what this attempt made; the table in force keeps its own.
			g.pool.keep(g.inUse(g.table.Load(), map[string]bool{}))
			return err
		}
		t.routes = append(t.routes, rt)
	}
	t.index()
	g.gen++
	// The names first: a stream that matched the new table is then never taken for one
	// of a removed route.
	g.live.keep(c.Routes)
	g.table.Store(t)
	g.pool.keep(inUse)
	return nil
}

// inUse adds the upstreams of t to keys.
func (g *Gateway) inUse(t *table, keys map[string]bool) map[string]bool {
	for _, rt := range t.routes {
		keys[rt.primary.up.key] = true
		if rt.canary != nil {
			keys[rt.canary.up.key] = true
		}
	}
	return keys
}

// Generation counts the route sets put in force; 0 before the first.
func (g *Gateway) Generation() uint64 { return g.table.Load().gen }

// Close stops watching, closes the streams (upgraded connections, gRPC calls) and every
// upstream's connections; requests in flight fail. Shut the http.Server down first (see
// Serve).
func (g *Gateway) Close() error {
	g.mu.Lock()
	stop := g.stop
	g.stop, g.closed = nil, true
	g.mu.Unlock()
	var err error
	if stop != nil {
		err = stop()
	}
	g.live.closeAll()
	g.pool.closeAll()
	return err
}

// ServeHTTP routes r; see Gateway.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.ProtoMajor == 1 && r.TransferEncoding != nil {
		// RFC 9112 §6.1: a request with both Transfer-Encoding and Content-Length must have
		// its connection closed after the answer, or bytes that one framing counts as body
		// are read as a request of their own. net/http removes the Content-Length before
		// the handler sees it, so every chunked HTTP/1 request closes its connection.
		w.Header().Set("Connection", "close")
	}
	rw := respWriter{ResponseWriter: w, gw: g}
	t := g.table.Load()
	var rt *route
	var ri reqInfo
	if raw := r.URL.RawPath; raw != "" && hasEncodedSlash(raw) || strings.IndexByte(r.URL.Path, '\\') >= 0 {
		g.answer(&rw, r, http.StatusBadRequest, codes.InvalidArgument,
			"the path has an encoded slash (%2F) or a backslash: the gateway does not route such paths")
	} else if !strings.HasPrefix(r.URL.Path, "/") {
		g.answer(&rw, r, http.StatusBadRequest, codes.InvalidArgument, "the request target is not a path")
	} else {
		var vals [4]string
		ri = reqInfo{r: r, path: cleanPath(r.URL.Path), vals: vals[:0]}
		if rt = t.match(normHost(r.Host), &ri); rt == nil {
			g.answer(&rw, r, http.StatusNotFound, codes.NotFound, "no route for "+r.Method+" "+ri.path)
		}
	}
	if rt == nil {
		g.accessLog(r, "", r.URL.Path, &rw, start)
		return
	}
	orig := r.URL.Path
	if g.opts.server != nil {
		ctx, rec := g.opts.server.Start(r, rt.pattern)
		r = r.WithContext(ctx)
		defer func() { g.opts.server.End(ctx, rec, rw.statusOr200()) }()
	}
	if rt.grpc || len(r.Header["Upgrade"]) > 0 {
		var st *stream
		r, st = g.live.track(r, rt.name)
		defer func() {
			g.live.untrack(st)
			if !rt.grpc || !st.drained.Load() {
				return
			}
			// The proxy aborts a call cut mid-answer; end it with a status the client can
			// act on (retry elsewhere) rather than a reset stream, which it reads as
			// Internal.
			if p := recover(); p != nil && p != http.ErrAbortHandler { //nolint:errorlint // panic value
				panic(p)
			} else if p != nil {
				h := rw.Header()
				h.Set(http.TrailerPrefix+"Grpc-Status", strconv.Itoa(int(codes.Unavailable)))
				h.Set(http.TrailerPrefix+"Grpc-Message", "route "+rt.name+" was removed from the gateway")
				g.accessLog(r, rt.name, orig, &rw, start)
			}
		}()
	}
	g.serve(&rw, r, rt, ri.path, ri.vals)
	g.accessLog(r, rt.name, orig, &rw, start)
}

// streams tracks the requests that can outlive a route change by far, upgraded
// connections and gRPC calls, by the name of their route, so that a route's removal closes
// them a drain time later. Other requests are bounded by their route's timeout and finish
// on the table they started with, however long it is gone.
type streams struct {
	mu     sync.Mutex
	drain  time.Duration
	names  map[string]bool // the routes in force
	open   map[*stream]struct{}
	closed bool
}

type stream struct {
	route   string
	cancel  context.CancelFunc
	doomed  bool        // its route is gone; drain runs after the drain time
	drained atomic.Bool // cancelled by drain, not by Close or its own end
}

// drain cancels the stream because its route was removed.
func (st *stream) drain() {
	st.drained.Store(true)
	st.cancel()
}

func newStreams(drain time.Duration) *streams {
	return &streams{drain: drain, names: map[string]bool{}, open: map[*stream]struct{}{}}
}

// track returns r with a context that a removal of route (or Close) cancels, and its
// stream, for untrack when r ends. Cancelling the context closes an upgraded connection on
// both sides (httputil.ReverseProxy closes the upstream's, then the client's) and cuts a
// gRPC call.
func (s *streams) track(r *http.Request, route string) (*http.Request, *stream) {
	ctx, cancel := context.WithCancel(r.Context())
	st := &stream{route: route, cancel: cancel}
	s.mu.Lock()
	switch {
	case s.closed:
		cancel()
	case !s.names[route]:
		// r matched a table that a change replaced meanwhile, without its route.
		st.doomed = true
		time.AfterFunc(s.drain, st.drain)
	}
	s.open[st] = struct{}{}
	s.mu.Unlock()
	return r.WithContext(ctx), st
}

// untrack forgets st, whose request has ended.
func (s *streams) untrack(st *stream) {
	s.mu.Lock()
	delete(s.open, st)
	s.mu.Unlock()
	st.cancel()
}

// keep notes the routes now in force, and closes the streams of every other route after
// the drain time.
func (s *streams) keep(routes []Route) {
	names := make(map[string]bool, len(routes))
	for i := range routes {
		names[routes[i].Name] = true
	}
	var doomed []*stream
	s.mu.Lock()
	s.names = names
	for st := range s.open {
		if !st.doomed && !names[st.route] {
			st.doomed = true
			doomed = append(doomed, st)
		}
	}
	s.mu.Unlock()
	if len(doomed) > 0 {
		time.AfterFunc(s.drain, func() {
			for _, st := range doomed {
				st.drain()
			}
		})
	}
}

// closeAll closes every stream now, when the gateway closes.
func (s *streams) closeAll() {
	s.mu.Lock()
	s.closed = true
	for st := range s.open {
		st.cancel()
	}
	s.mu.Unlock()
}

func hasEncodedSlash(raw string) bool {
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] == '%' && (raw[i+1] == '2' && (raw[i+2] == 'f' || raw[i+2] == 'F') || raw[i+1] == '5' && (raw[i+2] == 'c' || raw[i+2] == 'C')) {
			return true
		}
	}
	return false
}

// answer writes an answer of the gateway's own: the JSON error body, or for a gRPC
// request a trailers-only gRPC status.
func (g *Gateway) answer(w http.ResponseWriter, r *http.Request, httpStatus int, code codes.Code, msg string) {
	if rw, ok := w.(*respWriter); ok && rw.cors != nil {
		// So that a browser lets the page read why it was refused.
		rw.cors.mark(w.Header(), r.Header.Get("Origin"))
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		h := w.Header()
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", fmt.Sprint(int(code)))
		h.Set("Grpc-Message", msg)
		w.WriteHeader(http.StatusOK)
		return
	}
	httperr.WriteHTTP(w, httpStatus, status.New(code, msg))
}

// accessLog logs one request when sampled, and every answer of 500 and above.
func (g *Gateway) accessLog(r *http.Request, route, path string, w *respWriter, start time.Time) {
	l := g.opts.access
	if l == nil {
		return
	}
	st := w.statusOr200()
	if st < 500 && (g.opts.sample == 0 || g.opts.sample < 1 && rand.Float64() >= g.opts.sample) {
		return
	}
	attrs := [9]slog.Attr{
		slog.String("route", route), slog.String("method", r.Method), slog.String("host", r.Host),
		slog.String("path", path), slog.Int("status", st), slog.Int64("bytes", w.bytes),
		slog.Duration("dur", time.Since(start)), slog.String("remote", r.RemoteAddr),
	}
	n := 8
	if w.err != nil {
		attrs[n] = slog.Any("err", w.err)
		n++
	}
	l.LogAttrs(r.Context(), slog.LevelInfo, "access", attrs[:n]...)
}

// respWriter notes the status and size of an answer, for the access log and telemetry.
type respWriter struct {
	http.ResponseWriter
	gw     *Gateway
	cors   *corsPolicy // the route's, once matched
	err    error       // why the upstream did not answer
	status int
	bytes  int64
}

func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets the reverse proxy flush streams (gRPC, server-sent events).
func (w *respWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	http.NewResponseController(w.ResponseWriter).Flush() //nolint:errcheck // nothing to do
}

// Unwrap gives http.ResponseController the connection's writer (deadlines, hijacking).
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *respWriter) statusOr200() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// HTTPServer returns an http.Server serving g on addr with the gateway's defaults:
// HTTP/1.1 and HTTP/2 without TLS (h2c, for gRPC pass-through), headers bounded in time
// (DefaultReadHeaderTimeout, against slowloris) and size (DefaultMaxHeaderBytes, 431
// above), and idle keep-alive connections closed after DefaultIdleTimeout. No read or
// write timeout: streams and long uploads are bounded by each route's timeout.
func (g *Gateway) HTTPServer(addr string) *http.Server {
	s := &http.Server{
		Addr: addr, Handler: g, ReadHeaderTimeout: DefaultReadHeaderTimeout,
		IdleTimeout: DefaultIdleTimeout, MaxHeaderBytes: DefaultMaxHeaderBytes,
		ErrorLog: g.errLog, Protocols: new(http.Protocols),
	}
	s.Protocols.SetHTTP1(true)
	s.Protocols.SetUnencryptedHTTP2(true)
	return s
}
