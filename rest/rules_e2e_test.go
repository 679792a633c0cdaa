package rest_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rules"
)

// The whole path of a drain through the HTTP client: the operator writes out: true for an
// instance to a rules file, rules.Watch follows the file, and the client's balancer stops
// sending it requests while requests run, none of them failing.
func TestRulesFromAFileDrainAnInstance(t *testing.T) {
	provider, consumer := fileRegistries(t)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	register(t, provider, a.instance("orders"))
	register(t, provider, b.instance("orders"))

	path := filepath.Join(t.TempDir(), "rules.yaml")
	write := func(data string) {
		t.Helper()
		if err := os.WriteFile(path+".tmp", []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil { // one rename: never half a document
			t.Fatal(err)
		}
	}
	write("rules: {}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := rules.Watch(ctx, []config.Source{file.New(path)}, rules.WithLogger(quiet(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	c := newClient(t, consumer, rest.WithRules(st), rest.WithBalancer(pick.AlgRoundRobin))
	eventually(t, "a and b listed", func() bool {
		s := seen(t, c, "http://orders/", 20)
		return s["a"] > 0 && s["b"] > 0
	})

	// Round robin spreads requests evenly, so once a run of 300 has missed a, the drain is
	// in force (by chance it would take 2^-300), and every request that
	// starts afterwards must miss it too.
	var drained atomic.Bool
	var reqs, failed, late, sinceA atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := drained.Load()
				id, err := get(c, "http://orders/")
				reqs.Add(1)
				switch {
				case err != nil:
					failed.Add(1)
				case id == "a":
					sinceA.Store(0)
					if after {
						late.Add(1)
					}
				default:
					sinceA.Add(1)
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	write("rules:\n  services:\n    orders:\n      instances: [{id: a, out: true}]\n")
	deadline := time.Now().Add(10 * time.Second)
	for sinceA.Load() < 300 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	drained.Store(sinceA.Load() >= 300)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if !drained.Load() {
		t.Fatal("10s after the write, requests still reached a")
	}
	if failed.Load() != 0 || late.Load() != 0 {
		t.Fatalf("of %d requests, %d failed and %d reached a after it was drained; want 0 and 0",
			reqs.Load(), failed.Load(), late.Load())
	}
	t.Logf("%d requests, none failed, none reached a once drained", reqs.Load())

	// Back in traffic when the entry goes.
	write("rules: {}\n")
	eventually(t, "a back in traffic", func() bool { return seen(t, c, "http://orders/", 20)["a"] > 0 })
}
