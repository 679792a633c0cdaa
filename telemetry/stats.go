package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

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
			h.endCall(ctx, c, rs.Error, rs.EndTime.Sub(rs.BeginTime), !rs.BeginTime.IsZero())
		}
	}
}

// endCall ends c's span and records its duration d when measured.
func (h *Handler) endCall(ctx context.Context, c *call, err error, d time.Duration, measured bool) {
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
	if !measured {
		return // see Handler.now
	}
	co := c.m.opts
	var extra []attribute.KeyValue
	if e := c.addr.Load(); e != nil {
		co, extra = e.opts, e.attrs
	}
	secs := float64(d) / 1e9
	if int(code) < numCodes {
		h.dur.record(ctx, co[code], secs, c.span.SpanContext())
		return
	}
	h.dur.record(ctx, h.dur.series(h.metricSet(c.m.base, extra, code)), secs, c.span.SpanContext())
}

// TagConn returns ctx: connections are not traced.
func (*Handler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

// HandleConn does nothing: connections are not traced.
func (*Handler) HandleConn(context.Context, stats.ConnStats) {}
