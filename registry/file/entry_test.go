package file

import (
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/registry"
)

// FuzzParseEntry checks that any file content either is refused or yields a usable instance
// that survives a write and read back unchanged. Seeds are in testdata/fuzz/FuzzParseEntry.
func FuzzParseEntry(f *testing.F) {
	in := &registry.Instance{
		ID: "orders-1", Service: "orders", Version: "v1", Weight: 5, Zone: "z",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "::1", Port: 9000}},
		Metadata:  map[string]string{"k": "v"},
	}
	good, err := marshalEntry(owner{pid: 42, host: "h", pidns: "pid:[1]", ttl: DefaultTTL}, in)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := parseEntry(data)
		if err != nil {
			if e != nil {
				t.Fatalf("parseEntry returned an entry with error %v", err)
			}
			return
		}
		if err := e.Instance.Validate(); err != nil {
			t.Fatalf("parseEntry accepted an invalid instance: %v", err)
		}
		if e.PID <= 0 || e.Format != formatVersion {
			t.Fatalf("parseEntry accepted pid %d, format %d", e.PID, e.Format)
		}
		again, err := marshalEntry(owner{pid: e.PID, host: e.Host, pidns: e.PIDNS, ttl: e.ttl(0)}, e.Instance)
		if err != nil {
			t.Fatalf("marshal a parsed entry: %v", err)
		}
		back, err := parseEntry(again)
		if err != nil {
			t.Fatalf("a written entry does not parse: %v\n%s", err, again)
		}
		if !back.Instance.Equal(e.Instance) || back.PID != e.PID || back.Host != e.Host || back.PIDNS != e.PIDNS || back.TTLMillis != e.TTLMillis {
			t.Fatalf("round trip changed the entry:\n%+v\n%+v", e, back)
		}
	})
}

func TestParseEntryRefusesBadDocuments(t *testing.T) {
	const inst = `"instance": {"id": "a", "service": "s", "endpoints": ["grpc://h:1"]}`
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"an empty file is refused", ``, "not an entry document"},
		{"a JSON array is refused", `[]`, "not an entry document"},
		{"two documents are refused", `{"format": 1, "pid": 1, ` + inst + `} {}`, "data after"},
		{"a missing format is refused", `{"pid": 1, ` + inst + `}`, "format 0"},
		{"a newer format is refused", `{"format": 2, "pid": 1, ` + inst + `}`, "format 2"},
		{"a missing instance is refused", `{"format": 1, "pid": 1}`, "nil instance"},
		{"an instance without endpoints is refused", `{"format": 1, "pid": 1, "instance": {"id": "a", "service": "s"}}`, "no endpoint"},
		{"a bad endpoint is refused", `{"format": 1, "pid": 1, "instance": {"id": "a", "service": "s", "endpoints": ["h:1"]}}`, "endpoint"},
		{"a missing pid is refused", `{"format": 1, ` + inst + `}`, "pid 0"},
		{"a negative TTL is refused", `{"format": 1, "pid": 1, "ttl_ms": -1, ` + inst + `}`, "ttl_ms -1"},
		{"a TTL of years is refused", `{"format": 1, "pid": 1, "ttl_ms": 99999999999, ` + inst + `}`, "ttl_ms 99999999999"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseEntry([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parseEntry(%q) = %v, want an error containing %q", tc.doc, err, tc.wantErr)
			}
		})
	}
	if _, err := parseEntry([]byte(`{"format": 1, "pid": 1, "future": true, ` + inst + `}`)); err != nil {
		t.Fatalf("an unknown field should be ignored, got %v", err)
	}
}
