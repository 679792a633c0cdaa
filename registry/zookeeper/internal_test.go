package zookeeper

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/registry"
)

func TestHostProviderWaitsLongerAfterEachFailedRoundAndResetsOnConnect(t *testing.T) {
	stop := make(chan struct{})
	h := &hostProvider{policy: backoff.Policy{Base: 20 * time.Millisecond, Max: 80 * time.Millisecond}, stop: stop}
	if err := h.Init([]string{"a:1", "b:2"}); err != nil {
		t.Fatal(err)
	}
	next := func() (string, bool, time.Duration) {
		start := time.Now()
		s, retry := h.Next()
		return s, retry, time.Since(start)
	}
	// The first round tries every server at once.
	for _, want := range []string{"a:1", "b:2"} {
		if s, retry, _ := next(); s != want || retry {
			t.Fatalf("first round: Next = %s, %v; want %s, false", s, retry, want)
		}
	}
	// Each later round starts after a wait of at least half the backoff delay.
	for round, least := range []time.Duration{10, 20, 40, 40} {
		s, retry, waited := next()
		if s != "a:1" || !retry || waited < least*time.Millisecond {
			t.Fatalf("round %d: Next = %s, %v after %v; want a:1, true after at least %v ms", round+2, s, retry, waited, least)
		}
		_, _, _ = next()
	}
	h.Connected()
	if _, retry, _ := next(); retry {
		t.Fatal("Next right after Connected reports a retry")
	}
	close(stop)
	_, _, _ = next()
	if _, _, waited := next(); waited > time.Second {
		t.Fatalf("Next after stop waited %v", waited)
	}
}

func FuzzDecodeNode(f *testing.F) {
	good, _ := json.Marshal(nodeDoc{Format: 1, Instance: &registry.Instance{
		ID: "a", Service: "svc", Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 1}},
	}})
	f.Add("a", good)
	f.Add("a", []byte(`{"format":2}`))
	f.Add("b", []byte(`{"format":1,"instance":null}`))
	f.Add("a", []byte("garbage"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		for _, l := range []Layout{LayoutTianshu, LayoutDubbo} {
			in, _, err := l.decodeNode("svc", name, data)
			if err != nil {
				continue
			}
			if err := in.Validate(); err != nil || in.Service != "svc" {
				t.Fatalf("%v layout accepted an invalid instance %+v: %v", l, in, err)
			}
		}
	})
}
