package registry

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzDecodeFailoverCache feeds arbitrary bytes, as a torn or hand-edited cache file could
// hold, to the cache decoder: it must never panic; what it keeps must be valid instances of
// the service, sorted, one per ID; and the list must read back the same once saved.
func FuzzDecodeFailoverCache(f *testing.F) {
	f.Add([]byte(`[{"id":"a","service":"orders","endpoints":["grpc://10.0.0.1:9000"],"weight":5,"metadata":{"k":"v"}}]`))
	f.Add([]byte(`[{"id":"b","service":"orders","endpoints":["grpc://[::1]:1"]},{"id":"a","service":"orders","endpoints":["http://h:2"]},{"id":"a","service":"orders","endpoints":["grpc://h:3"]}]`))
	f.Add([]byte(`[null,{"id":"a","service":"payments","endpoints":["grpc://h:1"]},{"id":"","service":"orders"}]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{not json`))
	f.Add([]byte(`[{"id":"a","service":"orders","endpoints":["grpc://h:99999"]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		list, _, err := decodeCache(b, "orders")
		if err != nil {
			return
		}
		for i, in := range list {
			if err := in.Validate(); err != nil || in.Service != "orders" {
				t.Fatalf("kept %+v: %v", in, err)
			}
			if i > 0 && strings.Compare(list[i-1].ID, in.ID) >= 0 {
				t.Fatalf("IDs %q then %q: not sorted, or repeated", list[i-1].ID, in.ID)
			}
		}
		saved, err := json.Marshal(list)
		if err != nil {
			t.Fatalf("cannot save %+v: %v", list, err)
		}
		again, skipped, err := decodeCache(saved, "orders")
		if err != nil || skipped != 0 || !EqualLists(list, again) {
			t.Fatalf("saved as %s, read back as %d instances (%d skipped), %v", saved, len(again), skipped, err)
		}
	})
}
