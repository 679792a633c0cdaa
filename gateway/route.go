package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/breaker/ratelimit"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rpc/auth"
)

type kv struct{ name, value string }

// route is one compiled Route.
type route struct {
	name    string
	index   int
	host    string
	path    *pathMatcher
	methods []string
	headers []kv // canonical names
	query   []kv

	primary, canary *forward
	canaryWeight    uint64
	canaryHeader    *kv
	canaryCookie    *kv
	count           atomic.Uint64

	rewritePrefix *string
	rewritePath   *rewriter
	grpc          bool

	timeout   time.Duration
	maxBody   int64
	respLimit *responseLimit // nil without a limit
	limiter   ratelimit.Limiter
	consumers *consumerLimits
	jwt       auth.Verifier
	apiKeys   auth.Verifier
	keyHeader string
	cors      *corsPolicy

	// pattern is the route's path as http.route reports it in spans and metrics.
	pattern string

	// next is the user's middleware around the forwarding to the upstream.
	next http.Handler
}

// forward is a route's way to one upstream.
type forward struct {
	up    *upstream
	proxy *httputil.ReverseProxy
	// The route's header changes, for a transcoder (the proxy applies them itself).
	add    []kv
	remove []string
}

// compileRoute builds the route of r; the config has been validated.
func (g *Gateway) compileRoute(i int, r *Route, inUse map[string]bool) (*route, error) {
	at := fmt.Sprintf("routes[%d]", i)
	pm, err := compilePath(r.Match.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s.match.path: %v", ErrInvalid, at, err)
	}
	rt := &route{
		name: r.Name, index: i, host: normHost(r.Match.Host), path: pm, methods: r.Match.Methods,
		timeout: r.Timeout, maxBody: r.MaxBodyBytes, grpc: r.Target.Protocol == protoGRPC,
	}
	if r.Match.Host == "" {
		rt.host = ""
	} else if strings.HasPrefix(r.Match.Host, "*.") {
		rt.host = "*." + normHost(r.Match.Host[2:])
	}
	switch {
	case r.Match.Path.Exact != "":
		rt.pattern = r.Match.Path.Exact
	case r.Match.Path.Prefix != "":
		rt.pattern = strings.TrimSuffix(r.Match.Path.Prefix, "/") + "/"
	default:
		rt.pattern = r.Match.Path.Template
	}
	if rt.maxBody == 0 {
		rt.maxBody = DefaultMaxBodyBytes
	}
	for _, name := range sortedKeys(r.Match.Headers) {
		rt.headers = append(rt.headers, kv{textproto.CanonicalMIMEHeaderKey(name), r.Match.Headers[name]})
	}
	for _, name := range sortedKeys(r.Match.Query) {
		rt.query = append(rt.query, kv{name, r.Match.Query[name]})
	}
	if rw := r.Rewrite; rw != nil {
		if rw.Prefix != nil {
			p := strings.TrimSuffix(*rw.Prefix, "/")
			rt.rewritePrefix = &p
		} else if rt.rewritePath, err = pm.compileRewrite(rw.Path); err != nil {
			return nil, fmt.Errorf("%w: %s.rewrite.path: %v", ErrInvalid, at, err)
		}
	}
	if c := r.CORS; c != nil {
		rt.cors = newCORS(c)
	}
	if r.MaxResponseBytes > 0 {
		rt.respLimit = newResponseLimit(rt.name, r.MaxResponseBytes, g.log)
	}
	if rt.primary, err = g.forwardTo(rt, r, r.Target, inUse); err != nil {
		return nil, fmt.Errorf("%s.target: %w", at, err)
	}
	if c := r.Canary; c != nil {
		if rt.canary, err = g.forwardTo(rt, r, c.Target, inUse); err != nil {
			return nil, fmt.Errorf("%s.canary.target: %w", at, err)
		}
		rt.canaryWeight = uint64(c.Weight)
		if c.Header != nil {
			rt.canaryHeader = &kv{textproto.CanonicalMIMEHeaderKey(c.Header.Name), c.Header.Value}
		}
		if c.Cookie != nil {
			rt.canaryCookie = &kv{c.Cookie.Name, c.Cookie.Value}
		}
	}
	if l := r.RateLimit; l != nil {
		if rt.limiter, err = ratelimit.NewTokenBucket(l.Rate, l.Burst); err != nil {
			return nil, fmt.Errorf("%w: %s.rateLimit: %v", ErrInvalid, at, err)
		}
		if p := l.PerConsumer; p != nil {
			if rt.consumers, err = newConsumerLimits(p); err != nil {
				return nil, fmt.Errorf("%w: %s.rateLimit.perConsumer: %v", ErrInvalid, at, err)
			}
		}
	}
	if a := r.Auth; a != nil {
		if j := a.JWT; j != nil {
			opts := []auth.JWTOption{auth.WithMethods("HS256", "HS384", "HS512")}
			if j.Issuer != "" {
				opts = append(opts, auth.WithIssuer(j.Issuer))
			}
			if j.Audience != "" {
				opts = append(opts, auth.WithAudience(j.Audience))
			}
			v, err := auth.NewJWT([]byte(j.Secret), opts...)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.auth.jwt: %v", ErrInvalid, at, err)
			}
			// The secret is fixed for the route set's life, so a token verified once stays
			// good until its expiry: the cache spares the signature check (4 us) on each
			// request a client makes with it.
			if rt.jwt, err = auth.NewCache(v, jwtCacheTTL, jwtCacheSize); err != nil {
				return nil, err
			}
		}
		if len(a.APIKeys) > 0 {
			m := make(map[string]auth.Principal, len(a.APIKeys))
			for k, sub := range a.APIKeys {
				m[k] = auth.Principal{Subject: sub}
			}
			rt.apiKeys = auth.StaticTokens(m)
			rt.keyHeader = a.APIKeyHeader
			if rt.keyHeader == "" {
				rt.keyHeader = DefaultAPIKeyHeader
			}
			rt.keyHeader = textproto.CanonicalMIMEHeaderKey(rt.keyHeader)
		}
	}
	rt.next = chain(rt.name, g.opts.middleware, http.HandlerFunc(rt.send))
	return rt, nil
}

// chain wraps final in the middleware of a route, the first outermost.
func chain(route string, mws []Middleware, final http.Handler) http.Handler {
	h := final
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](route, h)
	}
	return h
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// forwardTo makes the route's reverse proxy to target.
func (g *Gateway) forwardTo(rt *route, r *Route, target Target, inUse map[string]bool) (*forward, error) {
	up, err := g.pool.get(target, r.Retries, r.Breaker)
	if err != nil {
		return nil, err
	}
	inUse[up.key] = true
	var add []kv
	var remove []string
	if h := r.Headers; h != nil {
		for _, name := range sortedKeys(h.Add) {
			add = append(add, kv{textproto.CanonicalMIMEHeaderKey(name), h.Add[name]})
		}
		for _, name := range h.Remove {
			remove = append(remove, textproto.CanonicalMIMEHeaderKey(name))
		}
	}
	if up.tc != nil {
		return &forward{up: up, add: add, remove: remove}, nil // transcode.go
	}
	keepHost := target.Service == ""
	f := &forward{up: up}
	f.proxy = &httputil.ReverseProxy{
		Transport: up.tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = up.scheme, up.service
			if keepHost {
				pr.Out.Host = pr.In.Host
			} else {
				pr.Out.Host = ""
			}
			pr.SetXForwarded()
			for _, name := range remove {
				pr.Out.Header.Del(name)
			}
			for _, h := range add {
				pr.Out.Header[h.name] = []string{h.value}
			}
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			g.upstreamError(w, req, rt, err)
		},
		ErrorLog: g.errLog,
	}
	if rt.grpc {
		f.proxy.FlushInterval = -1 // each gRPC message as it comes
	}
	cors, grpc, lim := rt.cors, rt.grpc, rt.respLimit
	if cors != nil || grpc || lim != nil {
		f.proxy.ModifyResponse = func(resp *http.Response) error {
			if lim != nil {
				if err := lim.check(resp); err != nil {
					return err // to upstreamError, which answers 502
				}
			}
			if cors != nil {
				cors.mark(resp.Header, resp.Request.Header.Get("Origin"))
			}
			if grpc {
				trailersOnly(resp)
			}
			return nil
		}
	}
	return f, nil
}

// serve runs the route's middleware for a request matched to it; p is the cleaned path
// and vals the template's values.
func (g *Gateway) serve(w *respWriter, r *http.Request, rt *route, p string, vals []string) {
	if rt.cors != nil {
		if rt.cors.preflight(w, r) {
			return
		}
		w.cors = rt.cors
	}
	if rt.maxBody > 0 && r.ContentLength > rt.maxBody {
		g.answer(w, r, http.StatusRequestEntityTooLarge, codes.ResourceExhausted,
			fmt.Sprintf("request body of %d bytes is over the route's limit of %d", r.ContentLength, rt.maxBody))
		return
	}
	if rt.jwt != nil || rt.apiKeys != nil {
		if !g.authenticate(w, r, rt) {
			return
		}
	}
	if rt.limiter != nil {
		done, ok := rt.limiter.Allow()
		if !ok {
			g.answer(w, r, http.StatusTooManyRequests, codes.ResourceExhausted, "rate limit of route "+rt.name+" exceeded")
			return
		}
		defer done()
	}
	if rt.consumers != nil && !rt.consumers.allow(r.Header.Get(rt.consumers.header)) {
		g.answer(w, r, http.StatusTooManyRequests, codes.ResourceExhausted, "rate limit per consumer of route "+rt.name+" exceeded")
		return
	}
	if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
		// Read the first chunk header before anything goes upstream, so that a body whose
		// chunked encoding is broken from the start is refused here. A body broken later
		// reaches the upstream as an aborted request, as through any streaming proxy.
		br := bufio.NewReaderSize(r.Body, 512)
		if _, err := br.Peek(1); err != nil && err != io.EOF {
			g.answer(w, r, http.StatusBadRequest, codes.InvalidArgument, "malformed request body: "+err.Error())
			return
		}
		r.Body = readCloser{br, r.Body}
	}
	// A transcoder reads the body whole and answers 413 over the route's limit itself.
	if rt.maxBody > 0 && r.Body != nil && r.Body != http.NoBody && rt.primary.up.tc == nil {
		r.Body = http.MaxBytesReader(w, r.Body, rt.maxBody)
	}
	switch {
	case rt.rewritePrefix != nil:
		p = *rt.rewritePrefix + p[len(rt.path.lit):]
		if p == "" {
			p = "/"
		}
	case rt.rewritePath != nil:
		p = rt.rewritePath.build(vals)
	}
	r.URL.Path, r.URL.RawPath = p, ""
	if rt.timeout > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), rt.timeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	rt.next.ServeHTTP(w, r)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// send is the end of a route's chain: the canary decision and the proxy, or the
// transcoder.
func (rt *route) send(w http.ResponseWriter, r *http.Request) {
	f := rt.pick(r)
	if tc := f.up.tc; tc != nil {
		// Headers reach the method as gRPC metadata: change them as the proxy would.
		for _, name := range f.remove {
			r.Header.Del(name)
		}
		for _, h := range f.add {
			r.Header[h.name] = []string{h.value}
		}
		if rt.cors != nil {
			rt.cors.mark(w.Header(), r.Header.Get("Origin"))
		}
		tc.serve(w, r, rt.maxBody)
		return
	}
	f.proxy.ServeHTTP(w, r)
}

// pick chooses the canary for requests carrying its header or cookie, and for its weight
// in percent of the others, counted so that every 100 requests in a row send exactly
// weight of them to the canary: n·w mod 100 < w holds for w of each 100 consecutive n.
func (rt *route) pick(r *http.Request) *forward {
	if rt.canary == nil {
		return rt.primary
	}
	if h := rt.canaryHeader; h != nil {
		if v := r.Header[h.name]; len(v) > 0 && (h.value == "" || v[0] == h.value) {
			return rt.canary
		}
	}
	if c := rt.canaryCookie; c != nil {
		if ck, err := r.Cookie(c.name); err == nil && (c.value == "" || ck.Value == c.value) {
			return rt.canary
		}
	}
	if w := rt.canaryWeight; w > 0 {
		if n := rt.count.Add(1) - 1; (n%100)*w%100 < w {
			return rt.canary
		}
	}
	return rt.primary
}

// authenticate admits a request with a bearer token the route's JWT verifier accepts or
// an API key it lists, and answers 401 otherwise.
func (g *Gateway) authenticate(w *respWriter, r *http.Request, rt *route) bool {
	why := "no credentials: send Authorization: Bearer <token>"
	if rt.apiKeys != nil {
		why = "no credentials: send Authorization: Bearer <token> or " + rt.keyHeader
	}
	if rt.jwt != nil {
		if vals := r.Header["Authorization"]; len(vals) > 0 {
			tok, err := auth.BearerToken(vals)
			if err == nil {
				_, err = rt.jwt.Verify(r.Context(), tok)
				if err == nil {
					return true
				}
				err = errors.New(auth.Redact(err.Error(), tok))
			}
			why = err.Error()
		}
	}
	if rt.apiKeys != nil {
		if k := r.Header.Get(rt.keyHeader); k != "" {
			if _, err := rt.apiKeys.Verify(r.Context(), k); err == nil {
				return true
			}
			why = "unknown API key in " + rt.keyHeader
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="tianshu-gateway"`)
	g.answer(w, r, http.StatusUnauthorized, codes.Unauthenticated, why)
	return false
}

// upstreamError answers a request the upstream did not answer.
func (g *Gateway) upstreamError(w http.ResponseWriter, r *http.Request, rt *route, err error) {
	if rw, ok := w.(*respWriter); ok {
		rw.err = err // for the access log, which records every answer of 500 and above
	}
	var mbe *http.MaxBytesError
	var big *responseTooLarge
	switch {
	case errors.As(err, &big):
		g.answer(w, r, http.StatusBadGateway, codes.ResourceExhausted, big.Error())
	case errors.As(err, &mbe):
		g.answer(w, r, http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "request body over the route's limit of "+strconv.FormatInt(mbe.Limit, 10)+" bytes")
	case errors.Is(err, context.DeadlineExceeded):
		g.answer(w, r, http.StatusGatewayTimeout, codes.DeadlineExceeded, "route "+rt.name+": upstream did not answer in time")
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer, but the log and the metrics do.
		g.answer(w, r, 499, codes.Canceled, "client closed the request")
	case errors.Is(err, breaker.ErrOpen):
		g.answer(w, r, http.StatusServiceUnavailable, codes.Unavailable, "route "+rt.name+": upstream breaker open")
	case errors.Is(err, rest.ErrNoInstances):
		g.answer(w, r, http.StatusServiceUnavailable, codes.Unavailable, "route "+rt.name+": no upstream instance available")
	default:
		g.answer(w, r, http.StatusBadGateway, codes.Unavailable, "route "+rt.name+": upstream failed")
	}
}

// trailersOnly turns a gRPC trailers-only answer (an error before any message: the status
// and the trailer metadata in the one header block) into headers and trailers. Passed on
// as it came, the status would be a header, and a client that has seen the headers flushed
// before the stream ends (the proxy flushes gRPC answers at once) reads a stream without
// trailers, which it must fail as Internal.
func trailersOnly(resp *http.Response) {
	if len(resp.Trailer) > 0 || resp.Header.Get("Grpc-Status") == "" {
		return
	}
	tr := http.Header{}
	for k, v := range resp.Header {
		if k != "Content-Type" {
			tr[k] = v
			delete(resp.Header, k)
		}
	}
	resp.Trailer = tr
}
