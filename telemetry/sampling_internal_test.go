package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func TestSpanKeyIsFound(t *testing.T) {
	if spanKey == nil {
		t.Fatal("the trace package's span key was not found: every dropped call now costs a context layer")
	}
}

// parseTraceparent must accept only what OpenTelemetry's TraceContext accepts, and read it
// the same way; it may leave to TraceContext what it does not handle (other versions).
func FuzzParseTraceparent(f *testing.F) {
	for _, s := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-04",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseTraceparent(s)
		want := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
			propagation.MapCarrier{"traceparent": s}))
		if !ok {
			if got.IsValid() {
				t.Fatalf("refused %q but returned %v", s, got)
			}
			if want.IsValid() && s[:2] == "00" {
				t.Fatalf("refused version-00 %q, which TraceContext reads as %v", s, want)
			}
			return
		}
		if !got.Equal(want) {
			t.Fatalf("%q: read %v, TraceContext reads %v", s, got, want)
		}
	})
}

// BenchmarkParseTraceparent reads the header every traced request carries.
func BenchmarkParseTraceparent(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"); !ok {
			b.Fatal("refused a well-formed traceparent")
		}
	}
}
