package rest

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/breaker/ratelimit"
	"github.com/tianshu-go/tianshu/rpc/auth"
	"github.com/tianshu-go/tianshu/rpc/httperr"
	"github.com/tianshu-go/tianshu/telemetry"
)

// ServeHTTP answers r through the server's chain (see Server). The chain runs as one
// function rather than as nested handlers: one wrapper of the ResponseWriter serves
// telemetry, recovery and the body limit. The route is looked up before telemetry, so that
// the span starts with its final name and samplers see it; ServeMux matches again when it
// serves (as httperr.Mux does too), which is what sets the request's path values.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.grpc != nil && r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		s.grpc.ServeHTTP(w, r)
		return
	}
	switch r.URL.Path {
	case LivenessPath:
		_, _ = io.WriteString(w, "ok\n")
		return
	case ReadinessPath:
		if !s.ready.Load() {
			httperr.Write(w, status.New(codes.Unavailable, "rest: not ready: the server is leaving"))
			return
		}
		_, _ = io.WriteString(w, "ok\n")
		return
	}
	_, pattern := s.mux.Handler(r)
	x := &exchange{ResponseWriter: w}
	ctx := r.Context()
	var rec telemetry.HTTPRecord
	if s.tel != nil {
		var tctx context.Context
		tctx, rec = s.tel.Start(r, pattern)
		if tctx != ctx {
			ctx, r = tctx, r.WithContext(tctx)
		}
	}
	defer s.finish(ctx, x, r, pattern, rec)

	if s.o.verifier != nil && !s.o.public[pattern] {
		p, ok := authenticate(x, r, s.o.verifier)
		if !ok {
			return
		}
		r = r.WithContext(auth.NewContext(r.Context(), p))
	}
	if s.o.limiter != nil {
		done, ok := s.o.limiter.Allow()
		if !ok {
			refuseRate(x)
			return
		}
		defer done()
	}
	if r.ContentLength > s.o.maxBody {
		x.tooLarge(s.o.maxBody)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		x.body = limitedBody{rc: r.Body, left: s.o.maxBody, limit: s.o.maxBody}
		r.Body = &x.body
	}
	if pattern != "" {
		s.mux.ServeHTTP(x, r)
	} else {
		s.noRoute.ServeHTTP(x, r)
	}
}

// finish recovers a panicking handler, answers 413 for a handler that read past the body
// limit and wrote nothing, and ends the request's telemetry.
func (s *Server) finish(ctx context.Context, x *exchange, r *http.Request, pattern string, rec telemetry.HTTPRecord) {
	p := recover()
	if p == http.ErrAbortHandler { // net/http's way to abort a response: not a bug
		s.endTelemetry(ctx, x, rec)
		panic(p)
	}
	if p != nil {
		s.o.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "route", pattern,
			"panic", p, "stack", string(debug.Stack()))
		if x.wrote {
			// Part of the answer is out: a 500 cannot follow it, so the connection is
			// broken off and the client sees a truncated response, not a whole one.
			x.status = http.StatusInternalServerError
			s.endTelemetry(ctx, x, rec)
			panic(http.ErrAbortHandler)
		}
		x.writeError(http.StatusInternalServerError, status.New(codes.Internal, "rest: the handler failed"))
	} else if !x.wrote && x.body.hit {
		x.tooLarge(x.body.limit)
	}
	s.endTelemetry(ctx, x, rec)
}

func (s *Server) endTelemetry(ctx context.Context, x *exchange, rec telemetry.HTTPRecord) {
	if s.tel == nil {
		return
	}
	code := x.status
	if code == 0 {
		code = http.StatusOK // a handler that writes nothing answers 200
	}
	s.tel.End(ctx, rec, code)
}

// exchange is the server's one ResponseWriter wrapper: it keeps the status for telemetry
// and recovery, and holds the request's body limit, so that a request costs one allocation
// for all three.
type exchange struct {
	http.ResponseWriter
	status  int
	wrote   bool
	swallow bool // the server answered in the handler's place; its writes are dropped
	body    limitedBody
}

func (x *exchange) WriteHeader(code int) {
	if x.wrote {
		if !x.swallow {
			x.ResponseWriter.WriteHeader(code) // net/http logs the superfluous call
		}
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		x.ResponseWriter.WriteHeader(code) // informational: the final status is still to come
		return
	}
	if x.body.hit {
		x.tooLarge(x.body.limit)
		return
	}
	x.status, x.wrote = code, true
	x.ResponseWriter.WriteHeader(code)
}

func (x *exchange) Write(b []byte) (int, error) {
	if !x.wrote {
		x.WriteHeader(http.StatusOK)
	}
	if x.swallow {
		return len(b), nil
	}
	return x.ResponseWriter.Write(b)
}

// Flush lets handlers that stream (server-sent events) flush through the wrapper.
func (x *exchange) Flush() {
	if !x.wrote {
		x.WriteHeader(http.StatusOK)
	}
	if x.swallow {
		return
	}
	_ = http.NewResponseController(x.ResponseWriter).Flush()
}

// ReadFrom keeps net/http's copy path (sendfile for files) for io.Copy into the response.
func (x *exchange) ReadFrom(src io.Reader) (int64, error) {
	if !x.wrote {
		x.WriteHeader(http.StatusOK)
	}
	if x.swallow {
		return io.Copy(io.Discard, src)
	}
	return io.Copy(x.ResponseWriter, src)
}

// Hijack hands the connection to a handler that takes it over (a WebSocket upgrade), for
// the libraries that assert http.Hijacker rather than use http.ResponseController. It fails
// on HTTP/2 connections, as net/http's does.
func (x *exchange) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(x.ResponseWriter).Hijack()
	if err == nil && !x.wrote {
		x.status, x.wrote = http.StatusSwitchingProtocols, true
	}
	return c, rw, err
}

// Unwrap gives http.ResponseController the underlying writer.
func (x *exchange) Unwrap() http.ResponseWriter { return x.ResponseWriter }

func (x *exchange) writeError(code int, st *status.Status) {
	x.status, x.wrote, x.swallow = code, true, true
	httperr.WriteHTTP(x.ResponseWriter, code, st)
}

// tooLarge answers 413 and closes the connection afterwards: the rest of the body is not
// read.
func (x *exchange) tooLarge(limit int64) {
	x.Header().Set("Connection", "close")
	x.writeError(http.StatusRequestEntityTooLarge, status.Newf(codes.ResourceExhausted,
		"rest: request body larger than %d bytes", limit))
}

// limitedBody is http.MaxBytesReader inside the exchange (no allocation of its own), which
// also tells the server that the limit was hit, so that it can answer 413 itself.
type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
	hit   bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.hit {
		return 0, &http.MaxBytesError{Limit: b.limit}
	}
	if len(p) == 0 {
		return 0, nil
	}
	// One byte more than allowed tells a body that ends at the limit from one that goes on.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	n, b.left, b.hit = int(b.left), 0, true
	return n, &http.MaxBytesError{Limit: b.limit}
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// Authenticate returns middleware that requires a bearer token v accepts, for routes that
// need authentication when the server as a whole does not (WithAuth):
//
//	mux.Handle("POST /orders", rest.Authenticate(v)(placeOrder))
//
// A request without a token, or with one v refuses, is answered 401 with the JSON error
// body (code UNAUTHENTICATED) and a WWW-Authenticate header; the handler finds the caller
// with auth.FromContext.
func Authenticate(v auth.Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := authenticate(w, r, v)
			if !ok {
				return
			}
			next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
		})
	}
}

// authenticate asks v about r's bearer token, and answers 401 when it is missing or
// refused. The answer names what was wrong, never the token.
func authenticate(w http.ResponseWriter, r *http.Request, v auth.Verifier) (auth.Principal, bool) {
	token, err := auth.BearerToken(r.Header.Values("Authorization"))
	if err == nil {
		var p auth.Principal
		if p, err = v.Verify(r.Context(), token); err == nil {
			return p, true
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="tianshu"`)
	httperr.Write(w, status.New(codes.Unauthenticated, auth.Redact(err.Error(), token)))
	return auth.Principal{}, false
}

// RateLimit returns middleware that refuses requests over l with 429 and the JSON error
// body (code RESOURCE_EXHAUSTED), for limits on single routes:
//
//	bucket, err := ratelimit.NewTokenBucket(100, 20)
//	mux.Handle("POST /orders", rest.RateLimit(bucket)(placeOrder))
func RateLimit(l ratelimit.Limiter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			done, ok := l.Allow()
			if !ok {
				refuseRate(w)
				return
			}
			defer done()
			next.ServeHTTP(w, r)
		})
	}
}

func refuseRate(w http.ResponseWriter) {
	httperr.Write(w, status.New(codes.ResourceExhausted, "rest: over the rate limit; retry later"))
}
