package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/internal/callhist"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/metrics"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
)

// minimum is the full stack's work written as plainly as it can be, to tell what the
// features cost from what Tianshu's telemetry costs: rpc's discovery, P2C and breaker as in
// full, and in place of the telemetry interceptors two that only do what full must. The
// client draws a trace ID and a span ID (the floor draws one), decides the 1% by the trace
// ID, writes one traceparent and records its duration; the server reads the traceparent
// as the floor does, parses it, draws its span ID, puts the span context in the handler's
// context and records its duration. A sampled call gets an SDK span on each side, as in
// full. No span attributes, no in-flight counts, no status codes in the metrics, no
// tracestate, baggage or other formats: what is left out is what a real tracer needs and
// this does not, so it reads a bound that no implementation of full's features reaches.
func minimum(ctx context.Context) (*stack, error) {
	st := &stack{}
	reg := memory.New()
	st.closers = append(st.closers, func() { _ = reg.Close() })
	prom, err := metrics.NewPrometheus(metrics.WithoutRuntimeMetrics())
	if err != nil {
		return nil, err
	}
	st.closers = append(st.closers, func() { _ = prom.Shutdown(context.Background()) })
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(discardExporter{}))
	st.closers = append(st.closers, func() { _ = tp.Shutdown(context.Background()) })
	store := prom.MeterProvider().(callhist.Provider).CallDurations()
	bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	series := func(name string) *callhist.Series {
		in := store.Instrument(callhist.Desc{Name: name, Unit: "s", Bounds: bounds})
		return in.Series(attribute.NewSet(attribute.String("rpc.method", "tianshu.test.Echo/Echo")))
	}
	m := &minimal{tracer: tp.Tracer("minimum"), cdur: series("client"), sdur: series("server"),
		bounds: bounds, bound: uint64(1<<63) / 100}

	for i := range instances {
		srv := rpc.NewServer(rpc.WithService("echo"), rpc.WithRegistrar(reg), rpc.WithInstanceID(fmt.Sprint(i)),
			rpc.WithDeregisterDelay(0), rpc.WithServerLogger(quiet), rpc.WithoutTelemetry(),
			rpc.WithUnaryServerInterceptors(m.server))
		if _, err := serveEcho(st, srv, i); err != nil {
			return nil, err
		}
	}
	g, err := breaker.NewGroup(breaker.AdaptiveFactory())
	if err != nil {
		st.close()
		return nil, err
	}
	st.closers = append(st.closers, func() { _ = g.Close() })
	conn, err := rpc.Dial(ctx, "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithWaitReady(), rpc.WithoutClientTelemetry(),
		rpc.WithUnaryClientInterceptors(m.client, breaker.UnaryClientInterceptor(g)))
	if err != nil {
		st.close()
		return nil, err
	}
	st.closers = append(st.closers, func() { _ = conn.Close() })
	st.client = testpb.NewEchoClient(conn)
	return st, waitBoth(ctx, st)
}

type minimal struct {
	tracer     trace.Tracer
	cdur, sdur *callhist.Series
	bounds     []float64
	bound      uint64 // trace IDs whose low 63 bits are below it are sampled
}

var origin = time.Now()

func (m *minimal) client(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	start := time.Since(origin)
	parent := trace.SpanContextFromContext(ctx)
	cfg := trace.SpanContextConfig{TraceID: parent.TraceID(), TraceFlags: parent.TraceFlags()}
	if !parent.IsValid() {
		binary.BigEndian.PutUint64(cfg.TraceID[:8], rand.Uint64())
		binary.BigEndian.PutUint64(cfg.TraceID[8:], rand.Uint64())
		if binary.BigEndian.Uint64(cfg.TraceID[8:])>>1 < m.bound {
			cfg.TraceFlags = trace.FlagsSampled
		}
	}
	binary.BigEndian.PutUint64(cfg.SpanID[:], rand.Uint64())
	var span trace.Span
	if cfg.TraceFlags.IsSampled() {
		ctx, span = m.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindClient))
		cfg.TraceID, cfg.SpanID = span.SpanContext().TraceID(), span.SpanContext().SpanID()
	}
	var buf [55]byte
	writeTraceparent(&buf, cfg)
	err := invoker(metadata.AppendToOutgoingContext(ctx, "traceparent", string(buf[:])), method, req, reply, cc, opts...)
	if span != nil {
		span.End()
	}
	secs := (time.Since(origin) - start).Seconds()
	m.cdur.Record(secs, callhist.Bucket(m.bounds, secs))
	return err
}

func (m *minimal) server(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Since(origin)
	cfg, ok := parseTraceparent(metadata.ValueFromIncomingContext(ctx, "traceparent"))
	if !ok {
		binary.BigEndian.PutUint64(cfg.TraceID[:8], rand.Uint64())
		binary.BigEndian.PutUint64(cfg.TraceID[8:], rand.Uint64())
	}
	var resp any
	var err error
	if cfg.TraceFlags.IsSampled() {
		var span trace.Span
		ctx, span = m.tracer.Start(trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(cfg)), info.FullMethod,
			trace.WithSpanKind(trace.SpanKindServer))
		resp, err = handler(ctx, req)
		if err != nil {
			span.SetAttributes(attribute.String("rpc.grpc.status_code", status.Code(err).String()))
		}
		span.End()
	} else {
		binary.BigEndian.PutUint64(cfg.SpanID[:], rand.Uint64())
		cfg.Remote = false
		resp, err = handler(trace.ContextWithSpanContext(ctx, trace.NewSpanContext(cfg)), req)
	}
	secs := (time.Since(origin) - start).Seconds()
	m.sdur.Record(secs, callhist.Bucket(m.bounds, secs))
	return resp, err
}

const hexDigits = "0123456789abcdef"

func writeTraceparent(b *[55]byte, c trace.SpanContextConfig) {
	b[0], b[1], b[2], b[35], b[52] = '0', '0', '-', '-', '-'
	for i, v := range c.TraceID {
		b[3+2*i], b[4+2*i] = hexDigits[v>>4], hexDigits[v&15]
	}
	for i, v := range c.SpanID {
		b[36+2*i], b[37+2*i] = hexDigits[v>>4], hexDigits[v&15]
	}
	b[53], b[54] = '0', hexDigits[c.TraceFlags&1]
}

func parseTraceparent(s []string) (c trace.SpanContextConfig, ok bool) {
	if len(s) == 0 || len(s[0]) != 55 {
		return c, false
	}
	v := s[0]
	var bad byte
	for i := range c.TraceID {
		hi, lo := unhexDigit(v[3+2*i]), unhexDigit(v[4+2*i])
		bad |= hi | lo
		c.TraceID[i] = hi<<4 | lo
	}
	for i := range c.SpanID {
		hi, lo := unhexDigit(v[36+2*i]), unhexDigit(v[37+2*i])
		bad |= hi | lo
		c.SpanID[i] = hi<<4 | lo
	}
	if v[54] == '1' {
		c.TraceFlags = trace.FlagsSampled
	}
	c.Remote = true
	return c, bad < 16 && c.TraceID.IsValid() && c.SpanID.IsValid()
}

func unhexDigit(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}
