package telemetry_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/telemetry"
)

// recorded is what one instrumentation recorded for a fixed set of calls.
type recorded struct {
	spans   []string
	metrics []string
	reader  *sdkmetric.ManualReader
	mp      *sdkmetric.MeterProvider
	rec     *tracetest.SpanRecorder
	tp      *sdktrace.TracerProvider
}

func newRecorded(t *testing.T) *recorded {
	tel := &recorded{rec: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(tel.rec))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = tel.mp.Shutdown(context.Background())
	})
	return tel
}

// runCalls makes the same calls through any instrumentation: one per status code of
// interest, each under a client-side root span, and one with no parent.
func runCalls(t *testing.T, tel *recorded, c testpb.EchoClient) {
	t.Helper()
	ctx := context.Background()
	for _, payload := range []string{"hello", "code:5", "code:13", "code:14", "code:1"} {
		rctx, root := tel.tp.Tracer("test").Start(ctx, "root "+payload)
		_, _ = c.Echo(rctx, &testpb.EchoRequest{Payload: []byte(payload)})
		root.End()
	}
	if _, err := c.Echo(ctx, &testpb.EchoRequest{Payload: []byte("orphan")}); err != nil {
		t.Fatal(err)
	}
	// The server ends its span after the client has its answer.
	deadline := time.Now().Add(10 * time.Second)
	for len(tel.rec.Ended()) < 5*3+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	tel.spans = describeSpans(tel.rec.Ended())
	// The server records its duration after its span ends: wait for all 12 (6 a side).
	for {
		rm := collect(t, tel.reader)
		tel.metrics = describeMetrics(rm)
		if countPoints(rm) >= 12 || time.Now().After(deadline) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countPoints(rm metricdata.ResourceMetrics) uint64 {
	var n uint64
	for _, p := range points(rm, "") {
		n += p.Count
	}
	return n
}

// describeSpans renders spans without IDs, times or ports, naming each span's parent.
func describeSpans(spans []sdktrace.ReadOnlySpan) []string {
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID().String()] = s
	}
	var out []string
	for _, s := range spans {
		parent := "none"
		if p, ok := byID[s.Parent().SpanID().String()]; ok && s.Parent().IsValid() {
			parent = p.SpanKind().String() + " " + p.Name()
			if p.SpanContext().TraceID() != s.SpanContext().TraceID() {
				parent += " (other trace!)"
			}
		}
		out = append(out, fmt.Sprintf("%s %q parent=[%s] remote=%v status=%s/%q attrs=%s",
			s.SpanKind(), s.Name(), parent, s.Parent().IsRemote(), s.Status().Code, s.Status().Description,
			describeAttrs(s.Attributes())))
	}
	slices.Sort(out)
	return out
}

func describeAttrs(kvs []attribute.KeyValue) string {
	var parts []string
	for _, kv := range kvs {
		v := kv.Value.Emit()
		if kv.Key == "server.port" {
			v = "PORT"
		}
		parts = append(parts, string(kv.Key)+"="+v)
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, " ") + "}"
}

// describeMetrics renders the RPC histograms (Tianshu's own tianshu.* instruments aside)
// with their points' attributes, counts and bounds.
func describeMetrics(rm metricdata.ResourceMetrics) []string {
	var out []string
	for _, m := range metrics(rm) {
		if strings.HasPrefix(m.Name, "tianshu.") {
			continue
		}
		h, ok := m.Data.(metricdata.Histogram[float64])
		if !ok {
			out = append(out, fmt.Sprintf("%s: unexpected type %T", m.Name, m.Data))
			continue
		}
		for _, p := range h.DataPoints {
			out = append(out, fmt.Sprintf("%s unit=%s desc=%q temporality=%s count=%d bounds=%v attrs=%s",
				m.Name, m.Unit, m.Description, h.Temporality, p.Count, p.Bounds, describeAttrs(p.Attributes.ToSlice())))
		}
	}
	slices.Sort(out)
	return out
}

func TestHandlersRecordWhatOtelgrpcRecordsForTheSameCalls(t *testing.T) {
	ref := newRecorded(t)
	prop := telemetry.Propagator()
	refClient := startEcho(t, &echoServer{id: "ref"},
		[]grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(ref.tp),
			otelgrpc.WithMeterProvider(ref.mp), otelgrpc.WithPropagators(prop)))},
		[]grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(ref.tp),
			otelgrpc.WithMeterProvider(ref.mp), otelgrpc.WithPropagators(prop)))})
	runCalls(t, ref, refClient)

	for _, mode := range []struct {
		name string
		opts func(hopts []telemetry.Option) ([]grpc.ServerOption, []grpc.DialOption)
	}{
		{"stats handlers", func(hopts []telemetry.Option) ([]grpc.ServerOption, []grpc.DialOption) {
			return []grpc.ServerOption{telemetry.ServerOption(hopts...)}, []grpc.DialOption{telemetry.DialOption(hopts...)}
		}},
		{"interceptors", func(hopts []telemetry.Option) ([]grpc.ServerOption, []grpc.DialOption) {
			return []grpc.ServerOption{grpc.UnaryInterceptor(telemetry.NewServerHandler(hopts...).UnaryServerInterceptor())},
				[]grpc.DialOption{grpc.WithUnaryInterceptor(telemetry.NewClientHandler(hopts...).UnaryClientInterceptor())}
		}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			got := newRecorded(t)
			hopts := []telemetry.Option{telemetry.WithTracerProvider(got.tp), telemetry.WithMeterProvider(got.mp),
				telemetry.WithTextMapPropagator(prop)}
			sopts, dopts := mode.opts(hopts)
			runCalls(t, got, startEcho(t, &echoServer{id: "tianshu"}, sopts, dopts))
			for _, c := range []struct {
				what      string
				ref, mine []string
			}{{"spans", ref.spans, got.spans}, {"metrics", ref.metrics, got.metrics}} {
				if len(c.ref) == 0 {
					t.Fatalf("otelgrpc recorded no %s", c.what)
				}
				if !slices.Equal(c.ref, c.mine) {
					t.Errorf("%s differ\notelgrpc:\n  %s\ntianshu:\n  %s", c.what,
						strings.Join(c.ref, "\n  "), strings.Join(c.mine, "\n  "))
				}
			}
		})
	}
}
