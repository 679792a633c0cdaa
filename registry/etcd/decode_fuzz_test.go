package etcd

import (
	"testing"
)

// FuzzDecodeInstance feeds arbitrary values, as anyone with write access to the prefix could
// store, to the decoder: it must never panic, and what it accepts must be a valid instance
// of the key's service and ID.
func FuzzDecodeInstance(f *testing.F) {
	f.Add([]byte(`{"id":"a","service":"orders","endpoints":["grpc://127.0.0.1:9000"]}`))
	f.Add([]byte(`{"id":"a","service":"orders","endpoints":["grpc://[::1]:9000"],"metadata":{"k":"v"},"weight":-3}`))
	f.Add([]byte(`{"id":"b","service":"orders","endpoints":["grpc://127.0.0.1:9000"]}`))
	f.Add([]byte(`{"id":"a","service":"orders","endpoints":["grpc://127.0.0.1"]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{oops`))
	f.Fuzz(func(t *testing.T, value []byte) {
		in, err := decodeInstance("orders", "a", value)
		if err != nil {
			return
		}
		if verr := in.Validate(); verr != nil || in.Service != "orders" || in.ID != "a" {
			t.Fatalf("accepted %q as %+v (Validate: %v)", value, in, verr)
		}
	})
}
