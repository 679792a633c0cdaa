package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/tianshu-go/tianshu/telemetry"
)

func TestLogHandlerAddsTraceAndSpanIDs(t *testing.T) {
	var buf bytes.Buffer
	log := telemetry.NewJSONLogger(&buf, slog.LevelInfo).With("svc", "orders").WithGroup("req")
	cases := []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"a record logged with a span context carries its IDs", sampledContext(), true},
		{"a record logged without one carries none", context.Background(), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf.Reset()
			log.InfoContext(c.ctx, "served", "code", "OK")
			var rec struct {
				Svc string         `json:"svc"`
				Req map[string]any `json:"req"`
			}
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("%v in %s", err, buf.String())
			}
			_, has := rec.Req[telemetry.TraceIDKey]
			if has != c.want || rec.Svc != "orders" {
				t.Fatalf("record %s: trace_id present %v, want %v", buf.String(), has, c.want)
			}
			if c.want && (rec.Req[telemetry.TraceIDKey] != testTraceID.String() || rec.Req[telemetry.SpanIDKey] != testSpanID.String()) {
				t.Fatalf("record %s has the wrong IDs", buf.String())
			}
		})
	}
}
