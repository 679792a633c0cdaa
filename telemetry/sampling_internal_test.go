package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
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

func TestIncomingKeyIsFound(t *testing.T) {
	if incomingKey == nil {
		t.Fatal("grpc-go's incoming metadata key was not found: every server call now copies its metadata")
	}
}

// The carrier answers as metadata.ValueFromIncomingContext does: the exact name first, then
// any case, for metadata a context was given by hand rather than by grpc-go's transport.
func TestIncomingCarrierMatchesGRPCLookup(t *testing.T) {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.MD{
		"traceparent": {"exact"}, "Tracestate": {"folded"}, "baggage": {}, "x-empty": nil})
	lower := metadata.NewIncomingContext(context.Background(), metadata.MD{"traceparent": {"lower"}})
	kelvin := metadata.NewIncomingContext(context.Background(), metadata.MD{"\u212aey": {"kelvin"}})
	for _, tc := range []struct {
		ctx  context.Context
		keys []string
	}{
		{ctx, []string{"traceparent", "tracestate", "baggage", "x-empty", "absent", "TRACEPARENT"}},
		{lower, []string{"tracestate", "TraceParent", "traceparent"}},
		{kelvin, []string{"key", "traceparent"}},
	} {
		c := &call{Context: tc.ctx}
		for _, key := range tc.keys {
			want := ""
			if vs := metadata.ValueFromIncomingContext(tc.ctx, key); len(vs) > 0 {
				want = vs[0]
			}
			if got := (*incoming)(c).Get(key); got != want {
				t.Errorf("Get(%q) = %q, grpc-go reads %q", key, got, want)
			}
		}
	}
	if got := (*incoming)(&call{Context: context.Background()}).Get("traceparent"); got != "" {
		t.Errorf("without metadata, Get = %q", got)
	}
}

// A call that came through grpc-go's server transport has lower-case names only, so the
// carrier looks a name up exactly and scans for no other case: a hand-made name in another
// case beside a stream is not found (no transport delivers one).
func TestIncomingCarrierDoesNotScanWhatATransportDelivered(t *testing.T) {
	md := metadata.MD{"traceparent": {"lower"}, "Tracestate": {"folded"}}
	ctx := grpc.NewContextWithServerTransportStream(metadata.NewIncomingContext(context.Background(), md), fakeStream{})
	c := (*incoming)(&call{Context: ctx})
	if got := c.Get("traceparent"); got != "lower" {
		t.Errorf("Get(traceparent) = %q, want lower", got)
	}
	if got := c.Get("tracestate"); got != "" {
		t.Errorf("Get(tracestate) = %q: the carrier scanned a transport's metadata for another case", got)
	}
}

// fakeStream stands for the stream grpc-go's server puts in a call's context.
type fakeStream struct{ grpc.ServerTransportStream }
