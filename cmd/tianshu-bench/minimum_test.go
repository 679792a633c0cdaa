package main

import (
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestTheMinimumReadsTheTraceparentItWrites(t *testing.T) {
	want := trace.SpanContextConfig{TraceID: trace.TraceID{0x4b, 0xf9, 15: 0x36}, SpanID: trace.SpanID{0x00, 0xf0, 7: 0xb7},
		TraceFlags: trace.FlagsSampled, Remote: true}
	var buf [55]byte
	writeTraceparent(&buf, want)
	if s := string(buf[:]); s != "00-4bf90000000000000000000000000036-00f00000000000b7-01" {
		t.Fatalf("wrote %q", s)
	}
	got, ok := parseTraceparent([]string{string(buf[:])})
	if !ok || !trace.NewSpanContext(got).Equal(trace.NewSpanContext(want)) {
		t.Fatalf("read %+v, %v; want %+v", got, ok, want)
	}
	for _, bad := range []string{"", "00-4bf90000000000000000000000000036-00f00000000000b7", "00-4bf9000000000000000000000000003G-00f00000000000b7-01",
		"00-00000000000000000000000000000000-00f00000000000b7-01"} {
		if _, ok := parseTraceparent([]string{bad}); ok {
			t.Errorf("read %q", bad)
		}
	}
}
