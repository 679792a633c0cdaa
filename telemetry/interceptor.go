package telemetry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// The interceptors record the same spans and metrics as the stats handler without grpc-go's
// stats machinery, which on its own (an event struct for every header, message and trailer,
// and a copy of the metadata for each) costs more per call than the whole tracing budget;
// see BenchmarkEcho. What they cannot see: the connected peer's address on a client, so a
// client's server.address and server.port come from the dial target (the service name for
// tianshu:///orders, host and port for a direct address), as otelgrpc's planned
// interceptors do; and the time grpc-go spends before the first interceptor runs.

// UnaryServerInterceptor returns an interceptor that traces and measures unary calls. Put
// it first in the chain so the span covers the others.
func (h *Handler) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return h.UnaryServerInterceptorThen(nil)
}

// UnaryServerInterceptorThen returns UnaryServerInterceptor with next inside it, as
// grpc.ChainUnaryInterceptor(h.UnaryServerInterceptor(), next) runs them, but calling next
// directly: grpc-go's chain allocates a closure for every link of every call, as much as
// the interceptor's own state. A nil next is UnaryServerInterceptor.
func (h *Handler) UnaryServerInterceptorThen(next grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := h.now(ctx)
		c, ctx := h.startServer(ctx, info.FullMethod)
		var resp any
		var err error
		if next != nil {
			resp, err = next(ctx, req, info, handler)
		} else {
			resp, err = handler(ctx, req)
		}
		if c != nil {
			h.finish(c, err, start)
		}
		return resp, err
	}
}

// StreamServerInterceptor returns an interceptor that traces and measures streaming calls.
func (h *Handler) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := h.now(ss.Context())
		c, ctx := h.startServer(ss.Context(), info.FullMethod)
		err := handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
		if c != nil {
			h.finish(c, err, start)
		}
		return err
	}
}

type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

// UnaryClientInterceptor returns an interceptor that traces and measures unary calls and
// propagates the span context. Put it first in the chain so the span covers retries.
func (h *Handler) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return h.UnaryClientInterceptorThen(nil)
}

// UnaryClientInterceptorThen returns UnaryClientInterceptor with next inside it, as
// grpc.WithChainUnaryInterceptor(h.UnaryClientInterceptor(), next) runs them, but calling
// next directly, without the closure grpc-go's chain allocates per link and call. A nil
// next is UnaryClientInterceptor.
func (h *Handler) UnaryClientInterceptorThen(next grpc.UnaryClientInterceptor) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		start := h.now(ctx)
		c, ctx := h.startClient(ctx, method, cc)
		var err error
		if next != nil {
			err = next(ctx, method, req, reply, cc, invoker, opts...)
		} else {
			err = invoker(ctx, method, req, reply, cc, opts...)
		}
		if c != nil {
			h.finish(c, err, start)
		}
		return err
	}
}

// StreamClientInterceptor returns an interceptor that traces and measures streaming calls.
// A stream's span ends when grpc-go finishes the stream (its last message read, an error,
// or its context cancelled).
func (h *Handler) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		start := h.now(ctx)
		c, ctx := h.startClient(ctx, method, cc)
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if c == nil {
			return cs, err
		}
		if err != nil {
			h.finish(c, err, start)
			return nil, err
		}
		w := &clientStream{ClientStream: cs}
		context.AfterFunc(cs.Context(), func() {
			h.finish(c, w.result(), start)
		})
		return w, nil
	}
}

// clientStream keeps the first error the application saw, which is the stream's status.
type clientStream struct {
	grpc.ClientStream
	mu  sync.Mutex
	err error
}

func (s *clientStream) keep(err error) error {
	if err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	return err
}

// result is the stream's outcome: grpc-go also cancels a stream's context when the stream
// ends normally, so only an error the application saw marks a failure.
func (s *clientStream) result() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(s.err, io.EOF) {
		return nil
	}
	return s.err
}

func (s *clientStream) SendMsg(m any) error { return s.keep(s.ClientStream.SendMsg(m)) }
func (s *clientStream) RecvMsg(m any) error { return s.keep(s.ClientStream.RecvMsg(m)) }
func (s *clientStream) CloseSend() error    { return s.keep(s.ClientStream.CloseSend()) }
func (s *clientStream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	return md, s.keep(err)
}

// startServer begins a server call for an interceptor: span, attributes and in-flight count.
func (h *Handler) startServer(ctx context.Context, fullMethod string) (*call, context.Context) {
	c, ctx := h.beginServer(ctx, fullMethod)
	if c == nil {
		return nil, ctx
	}
	if c.span.IsRecording() {
		if p, ok := peer.FromContext(ctx); ok && p.LocalAddr != nil {
			c.span.SetAttributes(hostPortAttrs(p.LocalAddr.String())...)
		}
	}
	c.m.active.Add(1)
	return c, c
}

// startClient begins a client call for an interceptor: span, propagation, attributes and
// in-flight count.
func (h *Handler) startClient(ctx context.Context, fullMethod string, cc *grpc.ClientConn) (*call, context.Context) {
	c, ctx := h.beginClient(ctx, fullMethod)
	if c == nil {
		return nil, ctx
	}
	if cc != nil {
		e := c.m.forTarget(h, cc.Target())
		c.addr.Store(e)
		if c.span.IsRecording() {
			c.span.SetAttributes(e.attrs...)
		}
	}
	c.m.active.Add(1)
	return c, c
}

// beginServer extracts the caller's span context and starts the server span. It returns a
// nil call for filtered methods, with ctx carrying the caller's context only.
func (h *Handler) beginServer(ctx context.Context, fullMethod string) (*call, context.Context) {
	head, unset := h.head()
	prop, mf := h.propagator()
	if h.idle(ctx, unset, prop) {
		return nil, ctx
	}
	c := &call{Context: ctx}
	var parent trace.SpanContext
	quick := false
	if mf != nil && head != nil {
		ctx, parent, quick = mf.quickExtract(ctx, (*incoming)(c))
		if quick && !parent.IsValid() {
			parent = trace.SpanContextFromContext(ctx)
		}
	}
	if !quick {
		if prop != nil {
			ctx = prop.Extract(ctx, (*incoming)(c))
		}
		parent = trace.SpanContextFromContext(ctx)
	}
	// The parent goes into the context as the remote caller's when quickExtract read it (it
	// is not there yet), or when it reached the context some other way than the headers (it
	// still counts as the caller's, as otelgrpc treats it).
	setParent := parent.IsValid() && (!parent.IsRemote() || quick)
	if h.filter != nil && !h.filter(fullMethod) {
		if setParent {
			ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
		}
		return nil, ctx
	}
	c.m = h.methods.get(fullMethod)
	if unset {
		c.drop(ctx, parent, h.offTP)
		return c, c
	}
	if head != nil {
		d := head.decide(parent)
		if !d.sampled {
			c.drop(ctx, d.sc, head.tp)
			return c, c
		}
		ctx = d.withIDs(ctx)
	}
	if setParent {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	c.Context, c.span = h.tracer.Start(ctx, c.m.name, c.m.startOpts...)
	c.setBase()
	return c, c
}

// beginClient starts the client span and writes its context into the outgoing metadata. It
// returns a nil call for filtered methods, with ctx carrying the propagated context.
func (h *Handler) beginClient(ctx context.Context, fullMethod string) (*call, context.Context) {
	head, unset := h.head()
	prop, _ := h.propagator()
	if h.idle(ctx, unset, prop) {
		return nil, ctx
	}
	c := &call{Context: ctx}
	c.kv = c.kvBuf[:0]
	if h.filter == nil || h.filter(fullMethod) {
		c.m = h.methods.get(fullMethod)
		if unset {
			c.drop(ctx, trace.SpanContextFromContext(ctx), h.offTP)
		} else if head != nil {
			d := head.decide(trace.SpanContextFromContext(ctx))
			if d.sampled {
				ctx = d.withIDs(ctx)
			} else {
				c.drop(ctx, d.sc, head.tp)
			}
		}
		if c.span == nil {
			c.Context, c.span = h.tracer.Start(ctx, c.m.name, c.m.startOpts...)
			c.setBase()
		}
	}
	if prop != nil {
		prop.Inject(c, (*outgoing)(c))
	}
	if len(c.kv) > 0 {
		c.Context = metadata.AppendToOutgoingContext(c.Context, c.kv...)
	}
	c.kv = nil
	if c.m == nil {
		return nil, c.Context
	}
	return c, c
}

// idle says a call would be neither traced, propagated nor measured: no provider would
// record its span (the global one before anything set it, or an explicit no-op one), no
// propagator is set, and the meter records no durations. rpc's defaults before
// tracing.Setup are such, and their calls pass through without a state of their own (an
// allocation a side) or an in-flight count, which only a meter could read: a call that
// starts idle is not counted in flight if a provider comes before it ends, as its
// duration is not recorded (see Handler.now). Its handler sees the context it was given:
// trace.SpanFromContext finds there the span the caller's context holds, if any.
func (h *Handler) idle(ctx context.Context, unset bool, prop propagation.TextMapPropagator) bool {
	return unset && prop == nil && !h.dur.on(ctx)
}

// setBase gives a recording span the method's attributes (see newMethod for why not at
// the start).
func (c *call) setBase() {
	if c.span.IsRecording() {
		c.span.SetAttributes(c.m.base...)
	}
}

// drop makes c a call whose span the sampling rule dropped, or that no provider would
// record, under ctx; tp is the provider the span reports.
func (c *call) drop(ctx context.Context, sc trace.SpanContext, tp trace.TracerProvider) {
	c.dropped = droppedSpan{sc: sc, tp: tp}
	c.span = &c.dropped
	c.Context = ctx
	if spanKey != nil {
		c.inline = true
	} else {
		c.Context = trace.ContextWithSpan(ctx, c.span)
	}
}

// mark is a reading of the monotonic clock, in nanoseconds since origin; noMark is the
// start of a call whose duration is not measured.
type mark int64

const noMark mark = -1

// origin anchors the marks; it is set once, when the package loads.
var origin = time.Now()

// now returns a call's start for its duration, or noMark when the meter records no
// durations (the defaults before tracing.Setup, a no-op meter): only the duration uses
// it, spans keep their own times, and a clock read costs 57-170 ns on the VMs of
// docs/benchmarks.md. A call that starts while the meter is off is not measured if the
// meter comes on before it ends.
//
// time.Since reads only the monotonic clock when its argument has a monotonic reading,
// where time.Now reads the wall clock as well; a duration needs nothing else.
func (h *Handler) now(ctx context.Context) mark {
	if !h.dur.on(ctx) {
		return noMark
	}
	return mark(time.Since(origin))
}

// finish ends the span and records the duration of a call started by an interceptor at
// start.
func (h *Handler) finish(c *call, err error, start mark) {
	c.begun.Store(true) // the interceptors counted the call in flight when they started it
	var d time.Duration
	if start != noMark {
		d = time.Since(origin) - time.Duration(start)
	}
	h.endCall(c, c, err, d, start != noMark)
}

// forTarget returns the attributes a client records for calls on a channel dialled to
// target.
func (m *method) forTarget(h *Handler, target string) *addrEntry {
	if e := m.lastTarget.Load(); e != nil && e.target == target {
		return e
	}
	e := m.entry(h, addrKey{s: target}, func() []attribute.KeyValue { return targetAttrs(target) })
	m.lastTarget.Store(e)
	return e
}

// targetAttrs derives server.address and server.port from a dial target: host:port, or the
// endpoint of a URL target (dns:///host:port, tianshu:///orders).
func targetAttrs(target string) []attribute.KeyValue {
	if _, _, err := net.SplitHostPort(target); err == nil {
		return hostPortAttrs(target)
	}
	u, err := url.Parse(target)
	if err != nil {
		return hostPortAttrs(target)
	}
	ep := u.Opaque
	if ep == "" {
		ep = strings.TrimPrefix(u.Path, "/")
	}
	if ep == "" {
		ep = target
	}
	return hostPortAttrs(ep)
}
