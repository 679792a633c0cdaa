package telemetry_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tianshu-go/tianshu/telemetry"
)

var (
	testTraceID = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	testSpanID  = trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
)

func sampledContext() context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: testTraceID, SpanID: testSpanID, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

func TestPropagatorReadsEveryFormat(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		sampled bool
	}{
		{"W3C traceparent", map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, true},
		{"B3 single header", map[string]string{"b3": "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"}, true},
		{"B3 multiple headers", map[string]string{"x-b3-traceid": "4bf92f3577b34da6a3ce929d0e0e4736",
			"x-b3-spanid": "00f067aa0ba902b7", "x-b3-sampled": "0"}, false},
		{"Jaeger uber-trace-id", map[string]string{"uber-trace-id": "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1"}, true},
		{"Jaeger uber-trace-id with a 64-bit trace ID", map[string]string{"uber-trace-id": "a3ce929d0e0e4736:f067aa0ba902b7:0:0"}, false},
		{"W3C over a conflicting uber-trace-id", map[string]string{
			"traceparent":   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			"uber-trace-id": "1111:2222:0:0"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := telemetry.Propagator().Extract(context.Background(), propagation.MapCarrier(c.headers))
			sc := trace.SpanContextFromContext(ctx)
			wantTrace := testTraceID
			if c.name == "Jaeger uber-trace-id with a 64-bit trace ID" {
				wantTrace = trace.TraceID{8: 0xa3, 9: 0xce, 10: 0x92, 11: 0x9d, 12: 0x0e, 13: 0x0e, 14: 0x47, 15: 0x36}
			}
			if !sc.IsRemote() || sc.TraceID() != wantTrace || sc.SpanID() != testSpanID || sc.IsSampled() != c.sampled {
				t.Fatalf("extracted %v (remote %v, sampled %v), want trace %v span %v sampled %v",
					sc.TraceID(), sc.IsRemote(), sc.IsSampled(), wantTrace, testSpanID, c.sampled)
			}
		})
	}
}

func TestPropagatorWritesW3CAndTheFormatsAskedFor(t *testing.T) {
	cases := []struct {
		name    string
		formats []telemetry.Format
		want    []string
	}{
		{"by default only W3C", nil, []string{"traceparent"}},
		{"B3 adds the single and the multiple headers", []telemetry.Format{telemetry.FormatB3},
			[]string{"b3", "traceparent", "x-b3-sampled", "x-b3-spanid", "x-b3-traceid"}},
		{"Jaeger adds uber-trace-id", []telemetry.Format{telemetry.FormatJaeger}, []string{"traceparent", "uber-trace-id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			carrier := propagation.MapCarrier{}
			telemetry.Propagator(c.formats...).Inject(sampledContext(), carrier)
			if got := slices.Sorted(maps.Keys(carrier)); !slices.Equal(got, c.want) {
				t.Fatalf("wrote %v, want %v", carrier, c.want)
			}
			for k, v := range map[string]string{
				"traceparent":   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
				"b3":            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
				"x-b3-traceid":  "4bf92f3577b34da6a3ce929d0e0e4736",
				"x-b3-spanid":   "00f067aa0ba902b7",
				"x-b3-sampled":  "1",
				"uber-trace-id": "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1",
			} {
				if got, ok := carrier[k]; ok && got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestPropagatorAnswersInTheFormatATraceArrivedIn(t *testing.T) {
	p := telemetry.Propagator()
	in := propagation.MapCarrier{"uber-trace-id": "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1"}
	ctx := p.Extract(context.Background(), in)
	out := propagation.MapCarrier{}
	p.Inject(ctx, out)
	if out["uber-trace-id"] != in["uber-trace-id"] || out["traceparent"] == "" {
		t.Fatalf("a trace that came as uber-trace-id went on as %v", out)
	}
}

func TestPropagatorCarriesBaggage(t *testing.T) {
	p := telemetry.Propagator()
	m, _ := baggage.NewMember("tenant", "acme")
	bag, _ := baggage.New(m)
	out := propagation.MapCarrier{}
	p.Inject(baggage.ContextWithBaggage(sampledContext(), bag), out)
	got := baggage.FromContext(p.Extract(context.Background(), out)).Member("tenant").Value()
	if got != "acme" {
		t.Fatalf("baggage tenant = %q after a round trip through %v", got, out)
	}
}

func TestPropagatorIgnoresMalformedHeaders(t *testing.T) {
	for _, h := range []map[string]string{
		{"traceparent": "00-zz-00f067aa0ba902b7-01"},
		{"b3": "not-a-b3"},
		{"uber-trace-id": "::::"},
		{"uber-trace-id": "0:0:0:0"},
	} {
		ctx := telemetry.Propagator().Extract(context.Background(), propagation.MapCarrier(h))
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			t.Errorf("extracted %v from %v", sc, h)
		}
	}
}

func FuzzPropagatorExtract(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
		"4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1", "k=v")
	f.Add("", "", "a:b:c:d", "")
	f.Fuzz(func(t *testing.T, tp, b3, uber, bag string) {
		p := telemetry.Propagator(telemetry.FormatB3, telemetry.FormatJaeger)
		ctx := p.Extract(context.Background(), propagation.MapCarrier{
			"traceparent": tp, "b3": b3, "uber-trace-id": uber, "baggage": bag, "x-b3-traceid": b3})
		sc := trace.SpanContextFromContext(ctx)
		if !sc.IsValid() {
			return
		}
		// Whatever was accepted must survive a round trip.
		out := propagation.MapCarrier{}
		p.Inject(ctx, out)
		back := trace.SpanContextFromContext(p.Extract(context.Background(), out))
		if back.TraceID() != sc.TraceID() || back.SpanID() != sc.SpanID() || back.IsSampled() != sc.IsSampled() {
			t.Fatalf("round trip changed %v into %v via %v", sc, back, out)
		}
	})
}
